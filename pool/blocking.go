package pool

import (
	"context"
	"errors"
	"time"

	"github.com/authpool/authpool/framing"
)

// waiter is a caller waiting for a free helper in Blocking mode. ch gets
// exactly one value, sent under p.mu after the waiter leaves the list.
type waiter struct {
	ch chan waitResult
}

type waitResult struct {
	h   *helper
	err error
}

// checkout takes the helper idle longest, or waits in line for one.
func (p *Pool) checkout(ctx context.Context) (*helper, error) {
	if p.untrusted.Load() {
		return nil, ErrUntrusted
	}
	p.mu.Lock()
	for len(p.idle) > 0 {
		h := p.idle[0]
		p.idle = p.idle[1:]
		if !h.isGone() {
			p.mu.Unlock()
			return h, nil
		}
	}
	if !p.anyAvailable() {
		p.mu.Unlock()
		return nil, p.unavailableError()
	}
	w := &waiter{ch: make(chan waitResult, 1)}
	e := p.waiters.PushBack(w)
	p.mu.Unlock()

	// Only a caller that has to wait pays for the timer that bounds it.
	ctx, cancel := p.boundWait(ctx)
	defer cancel()
	select {
	case r := <-w.ch:
		return r.h, r.err
	case <-ctx.Done():
	}
	p.mu.Lock()
	select {
	case r := <-w.ch:
		// Handed a helper just as the wait ended: pass it on.
		p.mu.Unlock()
		if r.h != nil {
			p.release(r.h)
		}
	default:
		p.waiters.Remove(e)
		p.mu.Unlock()
	}
	return nil, p.waitError(ctx)
}

// release gives h back: to the first waiter, or to the idle list. A helper
// that has gone is dropped; its slot replaces it.
func (p *Pool) release(h *helper) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if h.isGone() {
		return
	}
	if e := p.waiters.Front(); e != nil {
		p.waiters.Remove(e)
		e.Value.(*waiter).ch <- waitResult{h: h}
		return
	}
	p.idle = append(p.idle, h)
}

// forget takes h out of the idle list and its slot once the slot is done
// with it.
func (p *Pool) forget(h *helper) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if h.slot.cur == h {
		h.slot.cur = nil
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
	for e := p.waiters.Front(); e != nil; e = p.waiters.Front() {
		p.waiters.Remove(e)
		e.Value.(*waiter).ch <- waitResult{err: err}
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
		if attempt == 0 {
			wait = time.Since(start)
		}
		if err != nil {
			return false, err
		}
		yes, err := p.ask(ctx, h, req)
		if err == nil || !retryable(err, req, attempt) || ctx.Err() != nil {
			return yes, err
		}
		p.log.Debug("asking another helper", "request", req, "err", err)
	}
}

// ask does one exchange on h, which the caller holds, and then gives h back
// (Blocking mode) or retires it. If ctx (nil for a queue worker, which has no
// caller to interrupt it) ends first, ask returns at once and the answer is
// awaited, and thrown away, in the background.
func (p *Pool) ask(ctx context.Context, h *helper, req framing.Request) (bool, error) {
	conf := p.conf()
	if h.epoch != p.trustEpoch.Load() {
		// Handed out just before the command was distrusted, which retired it.
		p.giveBack(h)
		return false, ErrUntrusted
	}
	deadline := time.Now().Add(conf.Timeout)
	if h.served.Load() == 0 {
		deadline = deadline.Add(conf.StartTimeout)
	}
	if err := h.prepare(deadline); err != nil {
		p.retire(h, err)
		return false, p.closedError(err)
	}
	var stop func() bool
	if ctx != nil && ctx.Done() != nil { // a context that can never end needs no watcher
		h.arm(true)
		stop = context.AfterFunc(ctx, h.interrupt)
	}
	yes, err := h.send(req)
	if errors.Is(err, ErrBadRequest) {
		// Refused before anything was written: the helper's protocol,
		// changed by a reload, cannot carry req. The helper is fine.
		if stop != nil {
			stop()
			h.arm(false)
		}
		p.giveBack(h)
		return false, err
	}
	if err == nil {
		yes, err = h.readAnswer()
		if err == nil && yes && conf.AnswerGrace > 0 {
			// A stray "1" read as the answer is followed by the real one.
			err = h.settle(min(conf.AnswerGrace, time.Until(deadline)))
		}
		if err == nil && yes && !conf.NoConfirm && req.Op.Idempotent() && (h.served.Load() < confirmYoung || p.suspect()) {
			err = h.confirm(req)
		}
	}
	if stop != nil {
		stop()
		h.arm(false) // after this no watcher can touch the deadline
	}
	switch {
	case err == nil:
		h.served.Add(1)
		if p.cfg.Mode == Blocking && !p.tryRecycle(h) {
			p.release(h)
		}
		if h.epoch != p.trustEpoch.Load() {
			// The command was distrusted while h answered: its answer is
			// no better than the ones that tripped the breaker.
			return false, ErrUntrusted
		}
		return yes, nil
	case ctx != nil && ctx.Err() != nil && time.Now().Before(deadline):
		// Interrupted for the caller, not timed out: the answer is still
		// due. Reading it in the background keeps the helper in step.
		drained := p.enterDrain()
		if drained && !p.goTracked(func() {
			defer p.leave()
			p.drain(h, req, deadline)
		}) {
			p.leave()
			drained = false
		}
		if !drained {
			h.retire(RetireCallerGaveUp)
		}
		return false, p.waitError(ctx)
	}
	p.retire(h, err)
	return false, p.closedError(err)
}

// giveBack returns h, which the caller holds and has not asked anything,
// to the idle list (Blocking mode; a queue worker keeps its helper).
func (p *Pool) giveBack(h *helper) {
	if p.cfg.Mode == Blocking {
		p.release(h)
	}
}

// enterDrain counts a drain as in flight, even after Shutdown began (the
// caller's request is still counted, so the count cannot have reached
// zero), so Shutdown waits for it.
func (p *Pool) enterDrain() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed && p.inflight == 0 {
		return false
	}
	p.inflight++
	return true
}

// drain reads the answer to a request whose caller is gone and throws it
// away.
func (p *Pool) drain(h *helper, req framing.Request, deadline time.Time) {
	h.proc.SetReadDeadline(deadline)
	if _, err := h.readAnswer(); err != nil {
		p.retire(h, err)
		return
	}
	h.served.Add(1)
	p.log.Debug("answer thrown away: its caller gave up", "request", req)
	p.release(h)
}
