package redisstore

// Stats is a snapshot of a Store's counters, all since New, for metrics.
type Stats struct {
	Mode        Mode   // where penalties are kept now
	Errors      uint64 // Redis calls for logins that failed; each was answered by the local store
	Fallbacks   uint64 // switches from Redis to the local store
	Recoveries  uint64 // switches to Redis, the first connection included
	ProbeErrors uint64 // health probes that found Redis still away
	LocalKeys   int    // keys the local store holds (every failure this daemon saw, within the window)
}

// Stats returns the store's mode and counters.
func (s *Store) Stats() Stats {
	c := s.conn.Stats()
	return Stats{
		Mode:        c.Mode,
		Errors:      c.Errors,
		Fallbacks:   c.Fallbacks,
		Recoveries:  c.Recoveries,
		ProbeErrors: c.ProbeErrors,
		LocalKeys:   s.local.Len(),
	}
}
