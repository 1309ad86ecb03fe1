package pool

import (
	"context"
	"time"
)

// How an exchange hears that its caller gave up. The caller waits in a
// read of the helper's descriptor, which only a deadline (or the
// descriptor closing) ends. A watcher per exchange (context.AfterFunc)
// costs two allocations and a lock on the caller's context for every
// request. A descriptor deadline a few milliseconds away, at which the
// exchange looks at its context and reads on, costs as much: the
// runtime's timer for it moves with every request and, being near, keeps
// the runtime's timer heaps busy; dropping it gained about 5% of the
// throughput of 16 callers on 4 helpers (interleaved A/B runs of `authpool
// bench`; the dispatcher baseline sets only its caller's deadline).
//
// So an exchange runs on its caller's deadline, as a bare loop does, and
// one goroutine of the pool's, the watch, looks every watchEvery at the
// callers of the exchanges in flight and interrupts those that gave up.
// It runs only while such exchanges are in flight: an idle pool has no
// timer ticking. A caller whose context is cancelled gets its error
// within watchEvery; one whose context's deadline passes, at once (the
// descriptor's deadline is never later than the context's).
const watchEvery = 5 * time.Millisecond

// watch is one exchange's view of its caller, owned like the rest of the
// exchange state by the helper's holder.
type watch struct {
	cur     time.Time // the descriptor deadline in force
	watched bool      // helper.caller is set: the pool's watch may interrupt the exchange
}

// watchFrom starts an exchange for a caller with ctx (nil: a queue
// worker, which no caller interrupts) that must end by until, and returns
// the deadline to prepare it with: until, or ctx's deadline if earlier.
func (h *helper) watchFrom(ctx context.Context, until time.Time) time.Time {
	h.w = watch{}
	if ctx == nil || ctx.Done() == nil { // a context that can never end needs no watch
		return until
	}
	if d, ok := ctx.Deadline(); ok && d.Before(until) {
		until = d
	}
	h.mu.Lock()
	h.caller = ctx
	h.mu.Unlock()
	h.w.watched = true
	h.watched.Store(true)
	h.slot.p.startWatch()
	return until
}

// unwatch ends the exchange's watch on its caller: once it returns, the
// pool's watch cannot touch the deadlines.
func (h *helper) unwatch() {
	if h.w.watched {
		h.mu.Lock()
		h.caller = nil
		h.mu.Unlock()
		h.watched.Store(false)
	}
	h.w = watch{}
}

// checkCaller, the pool's watch's, interrupts h's exchange if its caller
// gave up: again at every tick until the exchange ends, since a step of
// it may set a deadline of its own (helper.settle). It reports whether an
// exchange on h is watched.
func (h *helper) checkCaller(now time.Time) bool {
	h.mu.Lock()
	if h.caller != nil && gaveUp(h.caller, now) {
		// Both ends: a write blocked on a helper that does not read ends
		// too (and the helper is retired: its request was cut short).
		h.proc.SetDeadline(now)
	}
	h.mu.Unlock()
	return h.watched.Load()
}

// gaveUp reports whether the caller with ctx has given up by now: its
// context is done, or its deadline has passed (which the descriptor's
// deadline, set to it, can show a moment before the context's own timer
// does).
func gaveUp(ctx context.Context, now time.Time) bool {
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && !now.Before(d)
}

// callerErr is the error of a caller that gave up (see gaveUp).
func callerErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return context.DeadlineExceeded
}

// startWatch makes sure the pool's watch runs.
func (p *Pool) startWatch() {
	if p.watching.Load() || !p.watching.CompareAndSwap(false, true) {
		return
	}
	if !p.goTracked(p.watchCallers) {
		// Closing: the helpers are being killed, which ends every exchange.
		p.watching.Store(false)
	}
}

// watchCallers is the pool's watch: every watchEvery it interrupts the
// exchanges whose callers gave up, until none is watched or the pool
// stops.
func (p *Pool) watchCallers() {
	t := time.NewTicker(watchEvery)
	defer t.Stop()
	for {
		select {
		case <-p.quit:
			return
		case <-t.C:
		}
		if p.checkCallers() {
			continue
		}
		// None watched: stop, unless one started meanwhile whose
		// startWatch saw this watch still running. An exchange sets its
		// helper's watched before it looks at watching, and this looks at
		// every watched after clearing watching (sequentially consistent
		// atomics, both), so one of the two sees the other. Each helper
		// keeps its own flag: a pool-wide count would be one cache line
		// that every request writes twice, from every CPU.
		p.watching.Store(false)
		if !p.checkCallers() || !p.watching.CompareAndSwap(false, true) {
			return
		}
	}
}

// checkCallers checks the caller of every exchange in flight: on the
// slots' helpers, and on replaced ones still finishing theirs (forget
// moves a helper from one to the other in one step). It reports whether
// any exchange is watched.
func (p *Pool) checkCallers() bool {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	any := false
	for _, s := range p.slots {
		if s.cur != nil && s.cur.checkCaller(now) {
			any = true
		}
	}
	for h := range p.stopping {
		if h.checkCaller(now) {
			any = true
		}
	}
	return any
}
