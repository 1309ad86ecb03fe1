package pool

import (
	"context"
	"errors"
	"runtime"
	"time"

	"github.com/authpool/authpool/framing"
)

// checkout takes the helper idle longest, or waits in line for one.
func (p *Pool) checkout(ctx context.Context) (*helper, error) {
	if p.untrusted.Load() {
		return nil, ErrUntrusted
	}
	p.mu.Lock()
	for len(p.idle) > 0 {
		h := p.idle[0]
		// Shifted down rather than resliced, so that release's append
		// reuses the array instead of growing a new one now and then.
		n := copy(p.idle, p.idle[1:])
		p.idle[n] = nil
		p.idle = p.idle[:n]
		if !h.isGone() {
			p.mu.Unlock()
			return h, nil
		}
	}
	if !p.anyAvailable() {
		p.mu.Unlock()
		return nil, p.unavailableError()
	}
	w := waiterPool.Get().(*waiter)
	w.expires = time.Time{}
	if _, ok := ctx.Deadline(); !ok {
		// Bounded by QueueTimeout instead, which the line's one timer
		// enforces: no timer, and no context, per waiting caller.
		w.expires = time.Now().Add(p.conf().QueueTimeout)
		p.armLineTimerLocked(w.expires)
	}
	p.line.push(w)
	p.mu.Unlock()

	select {
	case r := <-w.ch:
		waiterPool.Put(w)
		return r.h, r.err
	case <-ctx.Done():
	}
	err := ctx.Err()
	p.mu.Lock()
	select {
	case r := <-w.ch:
		// Handed a helper just as the wait ended: pass it on.
		p.mu.Unlock()
		if r.h != nil {
			p.release(r.h)
		}
	default:
		p.line.remove(w)
		p.mu.Unlock()
	}
	// Out of the line, its one value taken or never to come: reusable.
	waiterPool.Put(w)
	return nil, err
}

// release gives h back: to the first waiter, or to the idle list. A helper
// that has gone is dropped; its slot replaces it.
func (p *Pool) release(h *helper) {
	p.mu.Lock()
	if h.isGone() {
		p.mu.Unlock()
		return
	}
	if w := p.line.pop(); w != nil {
		w.ch <- waitResult{h: h}
		p.mu.Unlock()
		// The waiter runs next on this thread, and sends its request at
		// once: otherwise the helper would sit idle until this caller has
		// taken its answer home and come back for more (5% of the
		// throughput of 16 callers on 4 helpers).
		runtime.Gosched()
		return
	}
	p.idle = append(p.idle, h)
	p.mu.Unlock()
}

// forget takes h out of the idle list and its slot once the slot is done
// with it; one to be stopped becomes one of the stopping, in the same
// step, so that the pool's watch on callers (watch.go), which looks at
// both, always finds an exchange still in flight on it, and a forced
// shutdown can cut its grace short.
func (p *Pool) forget(h *helper, stop bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if h.slot.cur == h {
		h.slot.cur = nil
	}
	if stop {
		p.stopping[h] = struct{}{}
	}
	for i, x := range p.idle {
		if x == h {
			p.idle = append(p.idle[:i], p.idle[i+1:]...)
			return
		}
	}
}

// failWaiters ends every wait with err. Callers hold p.mu.
func (p *Pool) failWaiters(err error) {
	for w := p.line.pop(); w != nil; w = p.line.pop() {
		w.ch <- waitResult{err: err}
	}
	p.failQueuedLocked(err)
}

func (p *Pool) doBlocking(ctx context.Context, req framing.Request) (yes bool, err error) {
	start := time.Now()
	var wait time.Duration
	defer func() {
		p.cfg.Observer.Request(req.Op, Outcome(yes, err), wait, time.Since(start))
	}()
	for attempt := 0; ; attempt++ {
		h, err := p.checkout(ctx)
		now := time.Now()
		if attempt == 0 {
			wait = now.Sub(start)
		}
		if err != nil {
			return false, err
		}
		yes, _, err := p.ask(ctx, h, req, now)
		if err == nil || !retryable(err, req, attempt) || ctx.Err() != nil {
			return yes, err
		}
		p.log.Debug("asking another helper", "request", req, "err", err)
	}
}

// lateAnswer is an answer still due from a helper whose caller has been
// given its error: the caller's Timeout is up but not the helper's (its
// first answer may take StartTimeout more), or the caller gave up. It is
// read by until and thrown away (see drain); wantYes: it is the second
// asking of a yes (confirm), which must agree.
type lateAnswer struct {
	until   time.Time
	wantYes bool
}

// ask does one exchange on h, which the caller holds, starting now, and
// then gives h back (Blocking mode) or retires it. The caller waits at most Timeout: a
// helper's first answer may take StartTimeout more, but only the helper is
// given that long, to be replaced if it misses it; its caller gets
// ErrTimeout at Timeout and the answer is read and thrown away. If ctx (nil
// for a queue worker, which has no caller to interrupt it) ends first, ask
// returns at once and the answer is awaited, and thrown away, in the
// background. A queue worker is handed such an answer to read (late) after
// it has delivered the error; in Blocking mode ask starts the drain itself.
func (p *Pool) ask(ctx context.Context, h *helper, req framing.Request, now time.Time) (bool, lateAnswer, error) {
	conf := p.conf()
	if h.epoch != p.trustEpoch.Load() {
		// Handed out just before the command was distrusted, which retired it.
		p.giveBack(h)
		return false, lateAnswer{}, ErrUntrusted
	}
	// deadline is the caller's; allowed, the helper's.
	deadline := now.Add(conf.Timeout)
	allowed := deadline
	if h.served.Load() == 0 {
		allowed = deadline.Add(conf.StartTimeout)
	}
	if err := h.prepare(h.watchFrom(ctx, deadline)); err != nil {
		h.unwatch()
		p.retire(h, err)
		return false, lateAnswer{}, p.closedError(err)
	}
	yes, err := h.send(req)
	if errors.Is(err, ErrBadRequest) {
		// Refused before anything was written: the helper's protocol,
		// changed by a reload, cannot carry req. The helper is fine.
		h.unwatch()
		p.giveBack(h)
		return false, lateAnswer{}, err
	}
	sent := err == nil // whole: a request cut short by a write error is never completed
	confirming := false
	if sent {
		yes, err = h.readAnswer()
		if err == nil && yes && conf.AnswerGrace > 0 {
			// A stray "1" read as the answer is followed by the real one.
			err = h.settle(min(conf.AnswerGrace, time.Until(deadline)))
		}
		if err == nil && yes && !conf.NoConfirm && req.Op.Idempotent() && (h.served.Load() < confirmYoung || p.suspect()) {
			confirming = true
			sent, err = h.confirm(req)
		}
	}
	h.unwatch() // after this no watcher can touch the deadline
	var late lateAnswer
	switch {
	case err == nil:
		h.served.Add(1)
		if p.cfg.Mode == Blocking && !p.tryRecycle(h) {
			p.release(h)
		}
		if h.epoch != p.trustEpoch.Load() {
			// The command was distrusted while h answered: its answer is
			// no better than the ones that tripped the breaker.
			return false, late, ErrUntrusted
		}
		return yes, late, nil
	case !sent || !errors.Is(err, ErrTimeout) || !time.Now().Before(allowed):
		// The helper failed, or missed even its own allowance.
	case ctx != nil && gaveUp(ctx, time.Now()):
		// Interrupted for the caller, not timed out: the answer is still
		// due. Reading it in the background keeps the helper in step.
		p.drainLater(h, req, lateAnswer{allowed, confirming})
		return false, late, callerErr(ctx)
	case allowed.After(deadline):
		// The caller's Timeout is up, the new helper's is not.
		late = lateAnswer{allowed, confirming}
		if ctx != nil {
			p.drainLater(h, req, late)
			late = lateAnswer{}
		}
		return false, late, ErrTimeout
	}
	p.retire(h, err)
	return false, late, p.closedError(err)
}

// giveBack returns h, which the caller holds and has not asked anything,
// to the idle list (Blocking mode; a queue worker keeps its helper).
func (p *Pool) giveBack(h *helper) {
	if p.cfg.Mode == Blocking {
		p.release(h)
	}
}

// enterDrain counts a drain as in flight. Its request is still counted,
// so the count cannot have reached zero and Shutdown waits for the drain
// too.
func (p *Pool) enterDrain() { p.inflight.Add(1) }

// drainLater reads, in a goroutine of the pool's, the answer to a request
// whose caller has its error already (Blocking mode). If the pool is being
// closed by force, h is retired instead.
func (p *Pool) drainLater(h *helper, req framing.Request, late lateAnswer) {
	p.enterDrain()
	if !p.goTracked(func() {
		defer p.leave()
		p.drain(h, req, late)
	}) {
		p.leave()
		h.retire(RetireCallerGaveUp)
	}
}

// drain reads the answer to a request whose caller is gone and throws it
// away; then h serves again, if it answered in time and in step.
func (p *Pool) drain(h *helper, req framing.Request, late lateAnswer) {
	h.proc.SetReadDeadline(late.until)
	yes, err := h.readAnswer()
	if err == nil && late.wantYes && !yes {
		err = &outOfStep{what: stepDisagree, n: 2}
	}
	if err != nil {
		p.retire(h, err)
		return
	}
	h.served.Add(1)
	p.log.Debug("answer thrown away: its caller has its error already", "request", req)
	if p.cfg.Mode == Blocking && !p.tryRecycle(h) {
		p.release(h)
	}
}
