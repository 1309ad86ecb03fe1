package cache

// Stats is a snapshot of the cache's counters, all since New. With both
// TTLs zero the cache passes everything through and every counter stays
// zero.
type Stats struct {
	Hits          uint64 // auth and isuser answered from the cache
	Misses        uint64 // auth and isuser forwarded: no entry, or an expired one
	Entries       int    // entries held now, some perhaps expired and not yet removed
	Evictions     uint64 // entries removed to stay within MaxEntries
	Invalidations uint64 // entries removed because a request changed their user
}

// Stats returns the cache's counters.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
	s.Entries = c.entries.Len()
	return s
}
