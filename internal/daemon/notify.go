package daemon

import (
	"context"
	"errors"
	"log/slog"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"

	"github.com/authpool/authpool/pool"
)

// notifyReadyWhenUp tells systemd (Type=notify) that the daemon is ready
// once every helper has started, or once a start-up's worth of time
// (bound) has passed: a daemon whose helpers crash-loop still serves (it
// answers "no helper available"), which is better than systemd's start
// timeout killing it. Nothing is sent if ctx ends first, or without
// NOTIFY_SOCKET.
func notifyReadyWhenUp(ctx context.Context, p *pool.Pool, bound time.Duration, log *slog.Logger) {
	wctx, cancel := context.WithTimeout(ctx, bound)
	err := p.WaitReady(wctx)
	cancel()
	if ctx.Err() != nil || errors.Is(err, pool.ErrClosed) {
		return
	}
	if sent, err := sd.SdNotify(false, sd.SdNotifyReady); err != nil {
		log.Warn("telling systemd we are ready failed", "err", err)
	} else if sent {
		log.Info("told systemd we are ready")
	}
}

// notifyStopping tells systemd the daemon is shutting down.
func notifyStopping(log *slog.Logger) {
	if _, err := sd.SdNotify(false, sd.SdNotifyStopping); err != nil {
		log.Warn("telling systemd we are stopping failed", "err", err)
	}
}
