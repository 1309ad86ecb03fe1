package pool

import (
	"sync"
	"time"
)

// waiter is a caller waiting for a free helper in Blocking mode. ch gets
// exactly one value, sent under p.mu as the waiter leaves the line: a
// helper, or why there is none (errWaitTimeout, sent by the line's timer,
// among them). Waiters are reused (waiterPool) once their caller has
// taken that value or has left the line without one, so that waiting
// costs no allocation.
type waiter struct {
	ch chan waitResult // buffered: whoever sends never blocks
	// expires is when QueueTimeout ends the wait of a caller whose
	// context has no deadline; zero when the context bounds it.
	expires time.Time
}

type waitResult struct {
	h   *helper
	err error
}

var waiterPool = sync.Pool{New: func() any {
	return &waiter{ch: make(chan waitResult, 1)}
}}

// waitLine is the FIFO of waiters: a ring that grows to the longest line
// there has been and is then reused, so that joining it allocates
// nothing. Guarded by p.mu.
type waitLine struct {
	ring    []*waiter
	head, n int
}

func (l *waitLine) push(w *waiter) {
	if l.n == len(l.ring) {
		grown := make([]*waiter, max(2*l.n, 8))
		for i := range l.n {
			grown[i] = l.at(i)
		}
		l.ring, l.head = grown, 0
	}
	l.ring[(l.head+l.n)%len(l.ring)] = w
	l.n++
}

// at is the i-th waiter from the front.
func (l *waitLine) at(i int) *waiter { return l.ring[(l.head+i)%len(l.ring)] }

// pop takes the first waiter out of the line; nil if there is none.
func (l *waitLine) pop() *waiter {
	if l.n == 0 {
		return nil
	}
	w := l.ring[l.head]
	l.ring[l.head] = nil
	l.head = (l.head + 1) % len(l.ring)
	l.n--
	return w
}

// remove takes w, a caller that gave up, out of the line.
func (l *waitLine) remove(w *waiter) {
	for i := range l.n {
		if l.at(i) == w {
			l.removeAt(i)
			return
		}
	}
}

// removeAt takes the i-th waiter out of the line, closing the gap.
func (l *waitLine) removeAt(i int) {
	for j := i; j < l.n-1; j++ {
		l.ring[(l.head+j)%len(l.ring)] = l.at(j + 1)
	}
	l.ring[(l.head+l.n-1)%len(l.ring)] = nil
	l.n--
}

// The line's timer ends the waits that QueueTimeout bounds: one timer for
// the pool, armed for the earliest such wait, instead of one per waiting
// caller. Callers join the line in order and QueueTimeout rarely changes,
// so it fires about once per QueueTimeout while callers keep waiting, and
// then finds most of the waits it was armed for over already.

// armLineTimerLocked makes sure the line's timer fires by at. Callers
// hold p.mu.
func (p *Pool) armLineTimerLocked(at time.Time) {
	if !p.lineTimerAt.IsZero() && !at.Before(p.lineTimerAt) {
		return
	}
	p.lineTimerAt = at
	if p.lineTimer == nil {
		p.lineTimer = time.AfterFunc(time.Until(at), p.expireWaiters)
		return
	}
	p.lineTimer.Reset(time.Until(at))
}

// expireWaiters fails the waits past their QueueTimeout with
// errWaitTimeout, and arms the timer for the next one to end.
func (p *Pool) expireWaiters() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lineTimerAt = time.Time{}
	now := time.Now()
	var next time.Time
	for i := 0; i < p.line.n; {
		w := p.line.at(i)
		switch {
		case w.expires.IsZero():
		case !now.Before(w.expires):
			p.line.removeAt(i)
			w.ch <- waitResult{err: errWaitTimeout}
			continue
		case next.IsZero() || w.expires.Before(next):
			next = w.expires
		}
		i++
	}
	if !next.IsZero() {
		p.armLineTimerLocked(next)
	}
}

// stopLineTimer stops the line's timer for good (Shutdown, once every
// wait has ended).
func (p *Pool) stopLineTimer() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lineTimer != nil {
		p.lineTimer.Stop()
	}
	p.lineTimerAt = time.Time{}
}
