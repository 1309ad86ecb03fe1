package main

import (
	"context"
	"errors"
	"log/slog"

	sd "github.com/coreos/go-systemd/v22/daemon"

	"github.com/authpool/authpool/pool"
)

// notifyReadyWhenUp tells systemd (Type=notify) that the daemon is ready
// once every helper has started, or once a start-up's worth of time has
// passed (a daemon whose helpers crash-loop still serves: it answers "no
// helper available", which is better than systemd's start timeout killing
// it). Without NOTIFY_SOCKET it does nothing. The returned channel is
// closed when it is done.
func notifyReadyWhenUp(ctx context.Context, p *pool.Pool, cfg pool.Config, log *slog.Logger) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		wctx, cancel := context.WithTimeout(ctx, cfg.Timeout+cfg.StartTimeout)
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
	}()
	return done
}

// notifyStopping tells systemd the daemon is shutting down.
func notifyStopping(log *slog.Logger) {
	if _, err := sd.SdNotify(false, sd.SdNotifyStopping); err != nil {
		log.Warn("telling systemd we are stopping failed", "err", err)
	}
}
