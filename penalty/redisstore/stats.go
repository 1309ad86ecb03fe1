package redisstore

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"
)

// Stats is a snapshot of a Store's counters, all since New, for metrics.
type Stats struct {
	Mode        Mode   // where penalties are kept now
	Errors      uint64 // Redis calls for logins that failed; each was answered by the local store
	Fallbacks   uint64 // switches from Redis to the local store
	Recoveries  uint64 // switches to Redis, the first connection included
	ProbeErrors uint64 // health probes that found Redis still away
	LocalKeys   int    // keys the local store holds (every failure this daemon saw, within the window)
}

type counters struct {
	errors, fallbacks, recoveries, probeErrors atomic.Uint64
	fallLogged, backLogged                     atomic.Int64 // when a line of each kind was last written, Unix ns
}

// Stats returns the store's mode and counters.
func (s *Store) Stats() Stats {
	c := &s.counts
	return Stats{
		Mode:        Mode(s.mode.Load()),
		Errors:      c.errors.Load(),
		Fallbacks:   c.fallbacks.Load(),
		Recoveries:  c.recoveries.Load(),
		ProbeErrors: c.probeErrors.Load(),
		LocalKeys:   s.local.Len(),
	}
}

// logf writes a line at Warn (at Info for going back to Redis), unless a
// line of its kind went out less than LogEvery ago: an outage fails every
// call, and the counts in the next line say how many.
func (s *Store) logf(last *atomic.Int64, msg string, args ...any) {
	now := time.Now().UnixNano()
	prev := last.Load()
	if prev != 0 && now-prev < int64(s.cfg.LogEvery) || !last.CompareAndSwap(prev, now) {
		return
	}
	level := slog.LevelWarn
	if last == &s.counts.backLogged {
		level = slog.LevelInfo
	}
	s.cfg.Logger.Log(context.Background(), level, msg, args...)
}
