package main

import (
	"context"
	"log/slog"
	"time"

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
		deadline := time.Now().Add(cfg.Timeout + cfg.StartTimeout)
		for time.Now().Before(deadline) && ctx.Err() == nil && !allReady(p) {
			time.Sleep(10 * time.Millisecond)
		}
		if ctx.Err() != nil {
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

func allReady(p *pool.Pool) bool {
	for _, h := range p.Stats().Helpers {
		if h.State != "ready" {
			return false
		}
	}
	return true
}

// notifyStopping tells systemd the daemon is shutting down.
func notifyStopping(log *slog.Logger) {
	if _, err := sd.SdNotify(false, sd.SdNotifyStopping); err != nil {
		log.Warn("telling systemd we are stopping failed", "err", err)
	}
}
