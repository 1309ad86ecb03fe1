package pool

import (
	"context"
	"fmt"
)

// WaitReady returns nil once every slot of the pool has a helper that has
// started and is handed requests (HelperStats.State is StateReady for each
// of Processes slots), ErrClosed if the pool is shut down, or ctx's error,
// saying how many were ready. It waits on the slots' state changes, not by
// polling. It is the one "all helpers up" criterion of authpool (bench,
// systemd's readiness notice, the tests). It proves a helper started, not
// that it answers: Probe does that. A pool whose command cannot start is
// never ready, so give ctx a deadline.
func (p *Pool) WaitReady(ctx context.Context) error {
	for {
		p.mu.Lock()
		ready, want, closed := p.readyLocked()
		changed := p.changedLocked()
		p.mu.Unlock()
		switch {
		case closed:
			return ErrClosed
		case ready >= want:
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("%d of %d helpers ready: %w", ready, want, ctx.Err())
		}
	}
}

// readyLocked counts the slots Reconfigure has not removed whose helper is
// ready, against how many there should be. Callers hold p.mu.
func (p *Pool) readyLocked() (ready, want int, closed bool) {
	for _, s := range p.slots {
		if !s.removed.Load() && s.state == slotReady {
			ready++
		}
	}
	return ready, p.conf().Processes, p.closed.Load()
}

// changedLocked returns a channel that is closed at the next change of a
// slot's state, of the set of slots, or when the pool closes. Callers hold
// p.mu.
func (p *Pool) changedLocked() <-chan struct{} {
	if p.changed == nil {
		p.changed = make(chan struct{})
	}
	return p.changed
}

// signalChangeLocked wakes WaitReady's callers. Callers hold p.mu.
func (p *Pool) signalChangeLocked() {
	if p.changed != nil {
		close(p.changed)
		p.changed = nil
	}
}
