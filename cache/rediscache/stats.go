package rediscache

import "github.com/authpool/authpool/cache"

// Stats is a snapshot of a Store's counters, all since New, for metrics.
// Hits and misses are the Cache's (cache.Stats).
type Stats struct {
	Mode          Mode   // whether Redis is asked now
	Errors        uint64 // Redis calls that failed; each lookup among them asked the helper
	Fallbacks     uint64 // switches from Redis to doing without
	Recoveries    uint64 // switches to Redis, the first connection included
	ProbeErrors   uint64 // health probes that found Redis still away
	Invalidations uint64 // users' generations deleted: two per change
	Flushes       uint64 // epochs deleted, after a change Redis was not told of
}

// Stats returns the store's mode and counters.
func (s *Store) Stats() Stats {
	c := s.conn.Stats()
	return Stats{
		Mode:          c.Mode,
		Errors:        c.Errors,
		Fallbacks:     c.Fallbacks,
		Recoveries:    c.Recoveries,
		ProbeErrors:   c.ProbeErrors,
		Invalidations: s.invalidations.Load(),
		Flushes:       s.flushes.Load(),
	}
}

// StoreStats implements cache.Store.
func (s *Store) StoreStats() cache.StoreStats {
	st := s.Stats()
	return cache.StoreStats{Entries: -1, Invalidations: st.Invalidations, Errors: st.Errors, Fallbacks: st.Fallbacks}
}
