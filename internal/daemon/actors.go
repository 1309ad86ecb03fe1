package daemon

import (
	"context"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/oklog/run"

	"github.com/authpool/authpool/pool"
	"github.com/authpool/authpool/server"
)

// actors puts together the group that Run runs: when any of them returns,
// each is interrupted, in the order added (oklog/run calls the interrupts
// one after another), so shutdown goes by stages within one deadline:
//
//  1. signals: SIGTERM, SIGINT or ctx ending returns; SIGHUP reloads.
//  2. readiness: tells systemd READY=1 once the helpers are up; its
//     interrupt tells it STOPPING=1.
//  3. the listeners, one actor each; the first interrupt stops them all at
//     once and waits for them to answer what they have read, or abandons
//     those requests when the deadline passes.
//  4. the pool: its interrupt lets the helpers finish, then stops them.
func (d *Daemon) actors(ctx context.Context, sig <-chan os.Signal, p *pool.Pool, adm *admission,
	srv *server.Server, ls *listeners, fronts []*httpFront) *run.Group {
	log := d.log
	var g run.Group

	// One deadline for everything, from the first interrupt on.
	var (
		deadlineOnce sync.Once
		stopCtx      context.Context
		stopCancel   context.CancelFunc
	)
	deadline := func() context.Context {
		deadlineOnce.Do(func() { stopCtx, stopCancel = context.WithTimeout(context.Background(), d.cfg.ShutdownTimeout) })
		return stopCtx
	}
	quit := make(chan struct{})
	g.Add(func() error {
		for {
			select {
			case <-ctx.Done():
				log.Info("shutting down", "cause", context.Cause(ctx))
				return nil
			case <-quit:
				return nil
			case s := <-sig:
				if s == syscall.SIGHUP {
					s = d.reloads(ctx, sig, p, adm)
				}
				if s != nil {
					log.Info("shutting down", "cause", s.String()+" signal received")
					return nil
				}
			}
		}
	}, func(error) { close(quit) })

	rctx, rcancel := context.WithCancel(context.Background())
	timeout, startTimeout := exchangeTimeouts(d.cfg.Pool)
	g.Add(func() error {
		notifyReadyWhenUp(rctx, p, timeout+startTimeout, log)
		<-rctx.Done()
		return nil
	}, func(error) {
		rcancel()
		notifyStopping(log)
	})

	var stopOnce sync.Once
	stopFronts := func(error) {
		stopOnce.Do(func() {
			ctx := deadline()
			var wg sync.WaitGroup
			for _, f := range fronts {
				wg.Go(func() { f.shutdown(ctx, log) })
			}
			if err := srv.Shutdown(ctx); err != nil {
				log.Warn("connections closed before every answer was written", "err", err)
			}
			wg.Wait()
		})
	}
	g.Add(func() error { return srv.Serve(ls.main) }, stopFronts)
	if ls.ejabberd != nil {
		g.Add(func() error { return srv.ServeEjabberd(ls.ejabberd) }, stopFronts)
	}
	if ls.tls != nil {
		g.Add(func() error { return srv.ServeTLS(ls.tls, d.tls) }, stopFronts)
	}
	for _, f := range fronts {
		g.Add(f.serve, stopFronts)
	}

	poolDone := make(chan struct{})
	g.Add(func() error {
		<-poolDone
		return nil
	}, func(error) {
		ctx := deadline()
		if err := p.Shutdown(ctx); err != nil {
			log.Warn("helpers killed before they finished", "err", err)
		}
		stopCancel()
		close(poolDone)
	})
	return &g
}

// reloads reloads, and again for each SIGHUP that came meanwhile; it
// returns the signal that cut it short, if one did.
func (d *Daemon) reloads(ctx context.Context, sig <-chan os.Signal, p *pool.Pool, adm *admission) os.Signal {
	for {
		stop, again := cutShort(ctx, sig, func(ctx context.Context) { d.reload(ctx, p, adm) })
		if stop != nil || !again {
			return stop
		}
	}
}

// reload applies what Config.Reload gives: the helpers are replaced one
// at a time, between requests (pool.Reconfigure proves a new command
// first), then the log level. ctx ends at SIGTERM, which cuts a probe
// short.
func (d *Daemon) reload(ctx context.Context, p *pool.Pool, adm *admission) {
	log := d.log
	if d.cfg.Reload == nil {
		log.Warn("SIGHUP ignored: nothing to reload")
		return
	}
	next, err := d.cfg.Reload()
	if err != nil {
		log.Error("reload failed; keeping the running configuration", "err", err)
		return
	}
	if d.tls != nil {
		// Before the helpers, and whatever becomes of them: certificates
		// and the allow list stand on their own.
		if err := d.tls.Reload(next.TLS); err != nil {
			log.Error("TLS reload failed; keeping the running certificates and allow list", "err", err)
		} else {
			log.Info("TLS certificates and allow list reloaded", "allow_cn", next.TLS.AllowCN)
		}
	}
	next.Pool.Logger = nil // the pool keeps its own
	if err := p.Reconfigure(ctx, next.Pool); err != nil {
		log.Error("reload failed; keeping the running configuration", "err", err)
		return
	}
	if d.cfg.Level != nil {
		d.cfg.Level.Set(next.Level)
	}
	log.Info("reloaded")
	adm.helpersNow(len(p.Stats().Helpers))
}

// cutShort runs f with a context that ends with ctx or at SIGTERM or
// SIGINT from sig, and returns that signal, if one came, as stop. A SIGHUP
// that comes meanwhile is not lost: hup says one did, for the caller to
// reload after f.
func cutShort(ctx context.Context, sig <-chan os.Signal, f func(context.Context)) (stop os.Signal, hup bool) {
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case s := <-sig:
				if s == syscall.SIGHUP {
					hup = true
					continue
				}
				stop = s
				cancel()
				return
			case <-fctx.Done():
				return
			}
		}
	}()
	f(fctx)
	cancel()
	<-done
	return stop, hup
}

// exchangeTimeouts are cfg's Timeout and StartTimeout with the pool's
// defaults, for the bounds that depend on them.
func exchangeTimeouts(cfg pool.Config) (timeout, startTimeout time.Duration) {
	timeout, startTimeout = cfg.Timeout, cfg.StartTimeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	if startTimeout <= 0 {
		startTimeout = timeout
	}
	return timeout, startTimeout
}
