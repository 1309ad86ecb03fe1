package pool

import "time"

// Recycling replaces helpers that have served Config.MaxRequests requests
// or lived Config.MaxAge, for scripts that leak memory or go stale. A
// helper is only ever recycled between requests, and one at a time across
// the pool, so capacity never drops by more than one helper and no request
// fails because of it.

// recycleDue reports whether h has served its time, was started under
// settings Reconfigure has since changed, or is in a slot being removed.
func (p *Pool) recycleDue(h *helper) bool {
	c := p.conf()
	// The pool's own probes do not count: a helper probed before it serves
	// would otherwise be due before its first request with MaxRequests 1.
	return (c.MaxRequests > 0 && h.served.Load()-h.probes.Load() >= int64(c.MaxRequests)) ||
		(c.MaxAge > 0 && time.Since(h.started) >= c.MaxAge) ||
		h.gen != p.specGen.Load() || h.slot.removed.Load()
}

// tryRecycle retires h, which the caller holds and which is between
// requests, if it is due and no other helper is being recycled. It reports
// whether it did; if not, the caller keeps using h.
func (p *Pool) tryRecycle(h *helper) bool {
	if !p.recycleDue(h) {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.recycleLocked(h)
}

// recycleLocked takes the pool's one recycling place for h's slot. Callers
// hold p.mu.
func (p *Pool) recycleLocked(h *helper) bool {
	if p.recycling > 0 || p.closed.Load() {
		return false
	}
	reason := RetireRecycle
	if h.gen != p.specGen.Load() {
		reason = RetireReload
	} else if h.slot.removed.Load() {
		reason = RetirePoolShrunk
	}
	if !h.retire(reason) {
		return false
	}
	p.recycling++
	h.slot.recycling = true
	p.stats.recycles.Add(1)
	return true
}

// holdsRecyclingPlace reports whether s is replacing a recycled helper.
func (p *Pool) holdsRecyclingPlace(s *slot) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return s.recycling
}

// recycleIdle recycles h if it is idle and due: the slot's goroutine calls
// it, since an idle helper is not touched by any request.
func (p *Pool) recycleIdle(h *helper) bool {
	if !p.recycleDue(h) {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, x := range p.idle {
		if x == h {
			if !p.recycleLocked(h) {
				return false
			}
			p.idle = append(p.idle[:i], p.idle[i+1:]...)
			return true
		}
	}
	return false
}

// ageTimer fires when h should be checked for recycling by age: at MaxAge,
// then every second while it could not be recycled yet. It is nil (never
// fires) without MaxAge.
func (p *Pool) ageTimer(h *helper) *time.Timer {
	if p.conf().MaxAge <= 0 {
		return nil
	}
	return time.NewTimer(max(time.Until(h.started.Add(p.conf().MaxAge)), 0))
}

func timerC(t *time.Timer) <-chan time.Time {
	if t == nil {
		return nil
	}
	return t.C
}
