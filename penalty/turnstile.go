package penalty

import (
	"context"
	"fmt"
)

// turnstile lets the attempts on one key through one at a time, in the
// order they came (a channel's waiting senders are served first in, first
// out). It lives in Guard.lines only while an attempt holds it or waits
// for it, so the map is as large as the attempts in flight.
type turnstile struct {
	slot  chan struct{} // holds a token while an attempt is through
	users int           // attempts holding or waiting; under Guard.mu
}

// enter waits for key's turnstile. It fails at once with ErrBusy when
// MaxWaiting attempts already wait on the key, and when ctx ends first.
// The release function must be called exactly once.
func (g *Guard) enter(ctx context.Context, key Key) (release func(), err error) {
	g.mu.Lock()
	t := g.lines[key]
	if t == nil {
		t = &turnstile{slot: make(chan struct{}, 1)}
		g.lines[key] = t
	} else if t.users > g.cfg.MaxWaiting { // one through, MaxWaiting in line
		g.mu.Unlock()
		return nil, ErrBusy
	}
	t.users++
	g.mu.Unlock()
	select {
	case t.slot <- struct{}{}:
		return func() { <-t.slot; g.leave(key, t) }, nil
	case <-ctx.Done():
		g.leave(key, t)
		return nil, fmt.Errorf("penalty: waiting for earlier attempts: %w", ctx.Err())
	}
}

func (g *Guard) leave(key Key, t *turnstile) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if t.users--; t.users == 0 {
		delete(g.lines, key)
	}
}
