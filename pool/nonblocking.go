package pool

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/authpool/authpool/framing"
)

// job is a request in the NonBlocking queue. Jobs are reused (jobPool)
// once Do has taken their one Result, so that queueing costs no
// allocation; a job whose caller gave up is left to the garbage
// collector.
type job struct {
	ctx      context.Context
	req      framing.Request
	enqueued time.Time
	wait     time.Duration // until a worker first took it
	deadline time.Time     // for waiting in the queue
	res      chan Result   // buffered: a worker never blocks on it
	attempt  int
	// timer bounds Do's wait by QueueTimeout when the caller's context has
	// no deadline; it is stopped whenever the job is not in use.
	timer *time.Timer
}

var jobPool = sync.Pool{New: func() any {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &job{res: make(chan Result, 1), timer: t}
}}

// recycle puts j, whose Result its caller has taken, back in jobPool,
// keeping no reference to the request or the caller's context.
func (j *job) recycle() {
	j.ctx, j.req = nil, framing.Request{}
	j.wait, j.attempt = 0, 0
	jobPool.Put(j)
}

// doQueued is Do in NonBlocking mode: the request waits in the queue and
// for its answer, bounded by ctx, or by QueueTimeout when ctx has no
// deadline (on the job's timer: no context is derived for it).
func (p *Pool) doQueued(ctx context.Context, req framing.Request) (bool, error) {
	j, err := p.enqueue(ctx, req)
	if err != nil {
		return false, err
	}
	var expired <-chan time.Time
	if _, ok := ctx.Deadline(); !ok {
		j.timer.Reset(time.Until(j.deadline))
		expired = j.timer.C
	}
	select {
	case r := <-j.res:
		j.timer.Stop()
		j.recycle()
		return r.OK, r.Err
	case <-ctx.Done():
		j.timer.Stop()
		return false, ctx.Err()
	case <-expired:
		return false, errWaitTimeout
	}
}

// enqueue puts a request in the queue, or fails at once. The job is
// counted in flight until finishJob (or failQueued) delivers its Result.
func (p *Pool) enqueue(ctx context.Context, req framing.Request) (*job, error) {
	j := jobPool.Get().(*job)
	j.ctx, j.req, j.enqueued = ctx, req, time.Now()
	if d, ok := ctx.Deadline(); ok {
		j.deadline = d
	} else {
		j.deadline = j.enqueued.Add(p.conf().QueueTimeout)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.closed.Load():
		j.recycle()
		return nil, ErrClosed
	case !p.anyAvailable():
		err := p.unavailableError()
		p.cfg.Observer.Request(req.Op, Outcome(false, err), 0, 0)
		j.recycle()
		return nil, err
	}
	// Counted before a worker can take it, so the count never dips
	// below what is in flight.
	p.inflight.Add(1)
	select {
	case p.queue <- j:
		return j, nil
	default:
		p.inflight.Add(-1) // closed is false: nothing waits for this to reach zero
		p.stats.overloaded.Add(1)
		p.cfg.Observer.Request(req.Op, Outcome(false, ErrOverloaded), 0, 0)
		j.recycle()
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
			p.leave()
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
		// A busy queue is served without the full select below, which
		// locks all six of its channels each time: nothing but a job is
		// due while the helper is in service and the pool runs, and
		// tryRecycle covers MaxAge and reloads between jobs.
		if !h.isGone() && !p.quitting() {
			select {
			case j := <-p.queue:
				if !s.serveJob(h, j) || p.tryRecycle(h) {
					return
				}
				continue
			default:
			}
		}
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
	now := time.Now()
	if j.wait == 0 {
		j.wait = now.Sub(j.enqueued)
	}
	if err := j.ctx.Err(); err != nil {
		p.finishJob(j, Result{Err: err})
		return true
	}
	if now.After(j.deadline) {
		p.finishJob(j, Result{Err: fmt.Errorf("%w waiting in the queue", ErrTimeout)})
		return true
	}
	yes, late, err := p.ask(nil, h, j.req, now)
	if err == nil {
		p.finishJob(j, Result{OK: yes})
		return true
	}
	if !late.until.IsZero() {
		// The caller's Timeout is up, not the new helper's: the caller
		// gets its error now, and the answer is read and thrown away
		// before h takes the next job. j is its caller's once finished.
		req := j.req
		p.enterDrain()
		p.finishJob(j, Result{Err: err})
		p.drain(h, req, late)
		p.leave()
		return !h.isGone()
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
