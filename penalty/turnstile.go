package penalty

import (
	"context"
	"fmt"
)

// turnstile is one key's line: it lets the attempts on the key through one
// at a time, in the order they came (a channel's waiting senders are
// served first in, first out), and tells attempts asked beside the line
// (clean ones, see Guard.clean) whether a failure was recorded on the key
// meanwhile. It lives in Guard.lines only while an attempt holds it, waits
// for it or watches it, so the map is as large as the attempts in flight.
type turnstile struct {
	slot     chan struct{} // holds a token while an attempt is through
	users    int           // attempts holding or waiting; under Guard.mu
	watchers int           // clean attempts being asked; under Guard.mu
	failures uint64        // failures recorded on the key while it lived; under Guard.mu
}

// lineLocked returns key's turnstile, made if missing. Callers hold g.mu.
func (g *Guard) lineLocked(key Key) *turnstile {
	t := g.lines[key]
	if t == nil {
		t = &turnstile{slot: make(chan struct{}, 1)}
		g.lines[key] = t
	}
	return t
}

// enter waits for key's turnstile. It fails at once with ErrBusy when
// MaxWaiting attempts already wait on the key, and when ctx ends first.
// The release function must be called exactly once.
func (g *Guard) enter(ctx context.Context, key Key) (release func(), err error) {
	g.mu.Lock()
	t := g.lineLocked(key)
	if t.users > g.cfg.MaxWaiting { // one through, MaxWaiting in line
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
	t.users--
	g.dropIfIdle(key, t)
}

// dropIfIdle forgets a line nobody holds, waits for or watches. Callers
// hold g.mu.
func (g *Guard) dropIfIdle(key Key, t *turnstile) {
	if t.users == 0 && t.watchers == 0 {
		delete(g.lines, key)
	}
}

// watching is a clean attempt's hold on its lines while it is asked: its
// own line's and, when the address is known, the address's, with the
// failures each had when it started.
type watching struct {
	keys  [2]Key
	lines [2]*turnstile
	seen  [2]uint64
	n     int
}

// watch registers an attempt on its lines, and reports whether any of
// them is busy: an attempt holds it or waits for it.
func (g *Guard) watch(a *attempt) (w watching, busy bool) {
	w = watching{keys: [2]Key{a.own}, n: 1}
	if k, ok := a.addrKey(); ok {
		w.keys[1], w.n = k, 2
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for i := range w.n {
		t := g.lineLocked(w.keys[i])
		t.watchers++
		w.lines[i], w.seen[i] = t, t.failures
		busy = busy || t.users > 0
	}
	return w, busy
}

func (g *Guard) unwatch(w *watching) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i := range w.n {
		w.lines[i].watchers--
		g.dropIfIdle(w.keys[i], w.lines[i])
	}
}

// claim decides whether a clean attempt's answer is given at once: only
// if no failure was recorded on its lines since it started, and, for a
// failure of its own, only if it can take its lines at once, to hold them
// while its failure is recorded (the held attempts line up behind it and
// must find the record). A failure claimed counts on its lines at once, so
// that every clean attempt answered after it is held. The release
// function, for a first answer, must be called once it is recorded; w
// must still be registered.
func (g *Guard) claim(w *watching, ok bool) (release func(), first bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i := range w.n {
		if w.lines[i].failures != w.seen[i] {
			return nil, false
		}
	}
	if ok {
		return func() {}, true
	}
	taken := 0
	for ; taken < w.n; taken++ {
		select {
		case w.lines[taken].slot <- struct{}{}:
			continue
		default:
		}
		break
	}
	if taken < w.n {
		for i := range taken {
			<-w.lines[i].slot
		}
		return nil, false
	}
	keys, lines := w.keys, w.lines
	for i := range w.n {
		lines[i].users++
		lines[i].failures++
	}
	n := w.n
	return func() {
		for i := n - 1; i >= 0; i-- {
			<-lines[i].slot
			g.leave(keys[i], lines[i])
		}
	}, true
}

// noteFailure counts a failure on the attempt's lines, for the clean
// attempts watching them.
func (g *Guard) noteFailure(a *attempt) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if t := g.lines[a.own]; t != nil {
		t.failures++
	}
	if k, ok := a.addrKey(); ok {
		if t := g.lines[k]; t != nil {
			t.failures++
		}
	}
}
