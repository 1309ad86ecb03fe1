package penalty

import (
	"context"
	"log/slog"
	"time"

	"github.com/authpool/authpool/framing"
)

// The failure line's message. It names the address exactly when the
// failure counts against that address: fail2ban's filter matches this
// message alone. The message comes before every attribute in both of
// slog's formats, so nothing a user name holds can stand in its place.
const (
	failMsg     = "auth failed"
	failFromMsg = "auth failed from "
)

// The reasons a failure line gives.
const (
	reasonWrong    = "wrong-password"    // a wrong password not tried before for the key
	reasonRepeated = "repeated-password" // the same wrong password again: no penalty raised
)

// logFailure writes the fail2ban line (docs/FAIL2BAN.md): at Warn, so that
// it survives --log-level warn, with op, user, server, addr (when known),
// exempt (when so) and reason, in that order.
func (g *Guard) logFailure(ctx context.Context, req framing.Request, a *attempt, repeated bool) {
	msg, reason := failMsg, reasonWrong
	if repeated {
		reason = reasonRepeated
	} else if a.addr.IsValid() && !a.exempt {
		msg = failFromMsg + a.addr.String()
	}
	attrs := make([]slog.Attr, 0, 6)
	attrs = append(attrs,
		slog.String("op", req.Op.String()),
		slog.String("user", req.User),
		slog.String("server", req.Server))
	if a.addr.IsValid() {
		attrs = append(attrs, slog.String("addr", a.addr.String()))
	}
	if a.exempt {
		attrs = append(attrs, slog.Bool("exempt", true))
	}
	attrs = append(attrs, slog.String("reason", reason))
	g.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, msg, attrs...)
}

// storeErrorEvery spaces the lines about store errors: a store that is down
// fails every request, and one line in a while says so as well as all.
const storeErrorEvery = 10 * time.Second

// storeError counts a store error and logs it, at most once per
// storeErrorEvery. Store errors name keys, which are hashes, never a
// password.
func (g *Guard) storeError(ctx context.Context, call string, err error) {
	n := g.counts.storeErrors.Add(1)
	now := time.Now().UnixNano()
	last := g.counts.storeLogged.Load()
	if last != 0 && now-last < int64(storeErrorEvery) || !g.counts.storeLogged.CompareAndSwap(last, now) {
		return
	}
	g.cfg.Logger.LogAttrs(ctx, slog.LevelError, "penalty store failed; going on without its penalties",
		slog.String("call", call), slog.Any("error", err), slog.Uint64("errors", n))
}
