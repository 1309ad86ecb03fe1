package pool

import (
	"context"
	"errors"
	"os"
	"time"
)

// How an exchange hears that its caller gave up. A watcher
// (context.AfterFunc) that interrupts the read when the caller's context
// ends costs two allocations and a lock on that context for every request,
// while nearly every answer comes long before anyone gives up. So an
// exchange first runs unwatched, on a descriptor deadline at most
// unwatchedFor away: an answer within it costs nothing more. Past it, the
// exchange looks at the context; if the caller still waits, it arms the
// watcher and goes on to the caller's deadline. A context's own deadline
// is never later than the descriptor's, so a caller whose deadline passes
// gets its error at once; one cancelled gets it within unwatchedFor.
const unwatchedFor = 5 * time.Millisecond

// unwatchedFor is Config.unwatched, or the constant.
func (p *Pool) unwatchedFor() time.Duration {
	if p.cfg.unwatched > 0 {
		return p.cfg.unwatched
	}
	return unwatchedFor
}

// watch is one exchange's view of its caller, owned like the rest of the
// exchange state by the helper's holder.
type watch struct {
	ctx   context.Context // the caller's, while the exchange runs unwatched
	until time.Time       // the caller's deadline for the exchange
	cur   time.Time       // the descriptor deadline in force
	stop  func() bool     // the armed watcher's, if any
}

// watchFrom starts, now, an exchange for a caller with ctx (nil: a queue
// worker, which no caller interrupts) that must end by until, unwatched
// for at most unwatched, and returns the deadline to prepare it with.
func (h *helper) watchFrom(ctx context.Context, now, until time.Time, unwatched time.Duration) time.Time {
	h.w = watch{until: until}
	if ctx == nil || ctx.Done() == nil { // a context that can never end needs no watcher
		return until
	}
	h.w.ctx = ctx
	first := now.Add(unwatched)
	if d, ok := ctx.Deadline(); ok && d.Before(first) {
		first = d
	}
	if until.Before(first) {
		first = until
	}
	return first
}

// extend is called when a read or a write of the exchange failed with err.
// At the end of the unwatched phase, with the caller still waiting, it
// arms the watcher and moves the deadline to the caller's; it reports
// whether the exchange goes on.
func (h *helper) extend(err error) bool {
	ctx := h.w.ctx
	if ctx == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
		return false
	}
	h.w.ctx = nil
	if ctx.Err() != nil || !time.Now().Before(h.w.until) {
		return false
	}
	// The deadline first, then the watcher: one that fires at once then
	// still has the last word.
	if h.proc.SetDeadline(h.w.until) != nil {
		return false
	}
	h.w.cur = h.w.until
	h.arm(true)
	// Allocates the watcher and its stop function: only an exchange that
	// outlasts unwatchedFor, with a caller that can give up, pays for one.
	h.w.stop = context.AfterFunc(ctx, h.interruptFn)
	return true
}

// unwatch ends the exchange's watch on its caller: once it returns, no
// watcher can touch the deadlines.
func (h *helper) unwatch() {
	if h.w.stop != nil {
		h.w.stop()
		h.arm(false)
	}
	h.w = watch{}
}
