package pool

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/authpool/authpool/framing"
)

// job is a request in the NonBlocking queue.
type job struct {
	ctx      context.Context
	req      framing.Request
	enqueued time.Time
	wait     time.Duration // until a worker first took it
	deadline time.Time     // for waiting in the queue
	res      chan Result
	attempt  int
}

// enqueue puts a request in the queue, or fails at once.
func (p *Pool) enqueue(ctx context.Context, req framing.Request) (chan Result, error) {
	j := &job{ctx: ctx, req: req, res: make(chan Result, 1), enqueued: time.Now()}
	if d, ok := ctx.Deadline(); ok {
		j.deadline = d
	} else {
		j.deadline = time.Now().Add(p.conf().QueueTimeout)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.closed:
		return nil, ErrClosed
	case !p.anyAvailable():
		err := p.unavailableError()
		p.cfg.Observer.Request(req.Op, Outcome(false, err), 0, 0)
		return nil, err
	}
	select {
	case p.queue <- j:
		p.inflight++
		return j.res, nil
	default:
		p.stats.overloaded.Add(1)
		p.cfg.Observer.Request(req.Op, Outcome(false, ErrOverloaded), 0, 0)
		return nil, ErrOverloaded
	}
}

// requeue puts a job whose helper died back in line, if there is room.
func (p *Pool) requeue(j *job) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.anyAvailable() || p.quitting() {
		return false
	}
	select {
	case p.queue <- j:
		return true
	default:
		return false
	}
}

// finishJob delivers a job's one Result.
func (p *Pool) finishJob(j *job, r Result) {
	p.observeJob(j, r)
	j.res <- r
	p.leave()
}

func (p *Pool) observeJob(j *job, r Result) {
	wait := j.wait
	if wait == 0 {
		wait = time.Since(j.enqueued)
	}
	p.cfg.Observer.Request(j.req.Op, Outcome(r.OK, r.Err), wait, time.Since(j.enqueued))
}

func (p *Pool) failQueued(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failQueuedLocked(err)
}

// failQueuedLocked empties the queue, failing every job with err. Callers
// hold p.mu.
func (p *Pool) failQueuedLocked(err error) {
	for {
		select {
		case j := <-p.queue:
			p.observeJob(j, Result{Err: err})
			j.res <- Result{Err: err}
			p.inflight--
			if p.closed && p.inflight == 0 {
				close(p.drained)
			}
		default:
			return
		}
	}
}

// serveQueue is a slot's worker loop in NonBlocking mode: it answers jobs
// with h until h fails or the pool quits.
func (s *slot) serveQueue(h *helper) {
	p := s.p
	age := p.ageTimer(h)
	if age != nil {
		defer age.Stop()
	}
	for {
		select {
		case <-h.proc.Done():
			return
		case <-h.retired:
			return
		case <-p.quit:
			return
		case <-timerC(age):
			if p.tryRecycle(h) {
				return
			}
			age.Reset(time.Second)
		case <-s.poke:
			if p.tryRecycle(h) {
				return
			}
		case j := <-p.queue:
			if !s.serveJob(h, j) || p.tryRecycle(h) {
				return
			}
		}
	}
}

// serveJob answers one job; it reports whether h is still fit to serve.
func (s *slot) serveJob(h *helper, j *job) bool {
	p := s.p
	if j.wait == 0 {
		j.wait = time.Since(j.enqueued)
	}
	if err := j.ctx.Err(); err != nil {
		p.finishJob(j, Result{Err: err})
		return true
	}
	if time.Now().After(j.deadline) {
		p.finishJob(j, Result{Err: fmt.Errorf("%w waiting in the queue", ErrTimeout)})
		return true
	}
	yes, err := p.ask(nil, h, j.req)
	if err == nil {
		p.finishJob(j, Result{OK: yes})
		return true
	}
	if retryable(err, j.req, j.attempt) && !errors.Is(err, ErrClosed) {
		j.attempt++
		if p.requeue(j) {
			return false
		}
	}
	p.finishJob(j, Result{Err: err})
	return false
}
