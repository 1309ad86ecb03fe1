package cache

// userState is the user index's record of one user@server: which entries
// are theirs, and how many times they have been dropped. It lives while the
// user has entries or requests in flight; a miss in flight keeps it, so the
// generation it noted is still there to compare when its answer arrives.
type userState struct {
	entries map[digest]struct{}
	gen     uint64 // raised by every drop of the user's entries
	pending int    // misses and changes forwarded and not yet answered
}

// userLocked returns uk's record, made if missing. Callers hold c.mu.
func (c *Cache) userLocked(uk digest) *userState {
	st := c.users[uk]
	if st == nil {
		st = &userState{entries: make(map[digest]struct{})}
		c.users[uk] = st
	}
	return st
}

// invalidateLocked drops every entry of st's user and raises its
// generation, so that answers already on their way are not stored. Callers
// hold c.mu and keep st alive (st.pending > 0).
func (c *Cache) invalidateLocked(st *userState) {
	st.gen++
	for ek := range st.entries {
		c.entries.Remove(ek) // unindex deletes it from st.entries
		c.stats.Invalidations++
	}
}

// unindex is the LRU's removal callback, for evictions, expiries and
// invalidations alike: the entry leaves its user's record. Callers hold
// c.mu (every LRU call is made under it).
func (c *Cache) unindex(ek digest, e entry) {
	st := c.users[e.user]
	if st == nil {
		return
	}
	delete(st.entries, ek)
	c.dropIfIdle(e.user, st)
}

// dropIfIdle forgets a user with no entries and nothing in flight. Callers
// hold c.mu.
func (c *Cache) dropIfIdle(uk digest, st *userState) {
	if st.pending == 0 && len(st.entries) == 0 {
		delete(c.users, uk)
	}
}
