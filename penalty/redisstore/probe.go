package redisstore

import (
	"context"
	"errors"
	"time"

	"github.com/valkey-io/valkey-go"
)

// probeLoop is the store's one goroutine. While Redis is in use it sleeps
// until a call sees it fail; while the store is local it probes Redis, at
// once and then after a backoff from ProbeMin doubling to ProbeMax, and
// puts Redis back in use when a probe succeeds. It closes first after its
// first probe, and ends at Close.
func (s *Store) probeLoop(first chan<- struct{}) {
	defer s.done.Done()
	backoff := time.Duration(0) // the first probe at once
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		if Mode(s.mode.Load()) == ModeRedis {
			select {
			case <-s.ctx.Done():
				return
			case <-s.wake:
				backoff = 0 // a fresh failure: probe at once
			}
			continue
		}
		if backoff > 0 {
			timer.Reset(backoff)
			select {
			case <-s.ctx.Done():
				return
			case <-timer.C:
			}
		}
		err := s.probe()
		switch {
		case s.ctx.Err() != nil:
		case err == nil:
			if s.mode.CompareAndSwap(int32(ModeLocal), int32(ModeRedis)) {
				r := s.counts.recoveries.Add(1)
				if s.counts.fallbacks.Load() > 0 || s.counts.probeErrors.Load() > 0 {
					s.logf(&s.counts.backLogged, "penalty store: Redis answers again; penalties are shared",
						"recoveries", r, "errors", s.counts.errors.Load())
				}
			}
			backoff = 0
		default:
			n := s.counts.probeErrors.Add(1)
			if n == 1 && s.counts.fallbacks.Load() == 0 {
				// Redis was never reached: say so at start.
				s.logf(&s.counts.fallLogged, "penalty store: Redis does not answer; using this daemon's own penalties until it does",
					"error", err)
			}
			backoff = min(max(2*backoff, s.cfg.ProbeMin), s.cfg.ProbeMax)
		}
		if first != nil {
			close(first) // after the mode is set: New returns with it
			first = nil
		}
		if s.ctx.Err() != nil {
			return
		}
	}
}

// probe connects if need be and checks that Redis takes the store's calls:
// a write (a paused or read-only Redis is not back) and the read script
// (scripts are loaded). The probe key is deleted, never written.
func (s *Store) probe() error {
	c := s.client.Load()
	if c == nil {
		// valkey.NewClient connects at once, bounded by the dialer's
		// timeout, and fails when Redis does not answer.
		cl, err := valkey.NewClient(s.opt)
		if err != nil {
			return err
		}
		if s.ctx.Err() != nil { // Close came meanwhile and will not see it
			cl.Close()
			return s.ctx.Err()
		}
		s.client.Store(&cl)
		c = &cl
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.Timeout)
	defer cancel()
	probe := s.cfg.Prefix + "probe"
	if err := (*c).Do(ctx, (*c).B().Del().Key(probe).Build()).Error(); err != nil {
		return err
	}
	v, err := getScript.Exec(ctx, *c, []string{probe}, []string{s.window(), s.now()}).AsIntSlice()
	if err == nil && len(v) != 2 {
		err = errors.New("redisstore: the get script answered wrong")
	}
	return err
}
