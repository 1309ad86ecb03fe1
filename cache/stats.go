package cache

// Stats is a snapshot of the cache's counters, all since New, and of its
// store's. With both TTLs zero the cache passes everything through and
// every counter stays zero.
type Stats struct {
	Hits          uint64 // auth and isuser answered from the store
	Misses        uint64 // auth and isuser forwarded: no entry, an expired one, or a store that could not tell
	Entries       int    // entries the store holds now, some perhaps expired; -1 for a shared store
	Evictions     uint64 // entries removed to stay within MaxEntries
	Invalidations uint64 // what changes made the store forget (StoreStats.Invalidations)
	StoreErrors   uint64 // calls to a shared store's server that failed (StoreStats.Errors)
	Fallbacks     uint64 // times a shared store stopped asking its server (StoreStats.Fallbacks)
}

// Stats returns the cache's counters.
func (c *Cache) Stats() Stats {
	if c.passThrough {
		return Stats{}
	}
	st := c.store.StoreStats()
	return Stats{
		Hits:          c.hits.Load(),
		Misses:        c.misses.Load(),
		Entries:       st.Entries,
		Evictions:     st.Evictions,
		Invalidations: st.Invalidations,
		StoreErrors:   st.Errors,
		Fallbacks:     st.Fallbacks,
	}
}
