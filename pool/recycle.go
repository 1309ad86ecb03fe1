package pool

import "time"

// Recycling replaces helpers that have served Config.MaxRequests requests
// or lived Config.MaxAge, for scripts that leak memory or go stale. A
// helper is only ever recycled between requests, and one at a time across
// the pool, so capacity never drops by more than one helper and no request
// fails because of it.

// recycleDue reports whether h has served its time.
func (p *Pool) recycleDue(h *helper) bool {
	return (p.cfg.MaxRequests > 0 && h.served.Load() >= int64(p.cfg.MaxRequests)) ||
		(p.cfg.MaxAge > 0 && time.Since(h.started) >= p.cfg.MaxAge)
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
	if p.recycling > 0 || p.closed {
		return false
	}
	if !h.retire("recycle") {
		return false
	}
	p.recycling++
	h.slot.recycling = true
	p.stats.recycles.Add(1)
	return true
}

// recycleIdle recycles h if it is idle and due: the slot's timer calls it,
// since an idle helper is not touched by any request.
func (p *Pool) recycleIdle(h *helper) bool {
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
	if p.cfg.MaxAge <= 0 {
		return nil
	}
	return time.NewTimer(max(time.Until(h.started.Add(p.cfg.MaxAge)), 0))
}

func timerC(t *time.Timer) <-chan time.Time {
	if t == nil {
		return nil
	}
	return t.C
}
