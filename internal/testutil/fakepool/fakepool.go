// Package fakepool is a helper pool in memory for the tests of the layers
// above pool (server, client, cache's users): it answers by a rule, after a
// delay of the test's choosing, fails the requests of chosen users, and
// records every request that reached it. It is a package of its own, not
// part of testutil, so that testutil stays free of the packages it serves.
package fakepool

import (
	"context"
	"sync"
	"time"

	"github.com/authpool/authpool/framing"
)

// Pool has the pool's Do method, in memory. Every field is optional; the
// zero value answers by DefaultAnswer at once.
type Pool struct {
	// Answer decides a request's yes or no; nil means DefaultAnswer.
	Answer func(framing.Request) bool
	// Delay is how long a request waits for its answer (the fake
	// helper's work), or until its context ends; nil means none.
	Delay func(framing.Request) time.Duration
	// Failures are the errors of the requests of these users, after the
	// delay.
	Failures map[string]error
	// Refusals are the errors of the requests of these users, at once, as
	// a pool refuses what it cannot queue.
	Refusals map[string]error

	mu   sync.Mutex
	seen []framing.Request
}

// DefaultAnswer is yes to isuser, and to auth when the password is "pw-"
// and the user's name.
func DefaultAnswer(req framing.Request) bool {
	return req.Op == framing.OpIsUser || req.Password == "pw-"+req.User
}

// Do records req and answers it, in the caller's goroutine as a pool does.
// A request whose context ends during its delay returns the context's
// error at once, as the pool's does.
func (p *Pool) Do(ctx context.Context, req framing.Request) (bool, error) {
	p.mu.Lock()
	p.seen = append(p.seen, req)
	p.mu.Unlock()
	if err := p.Refusals[req.User]; err != nil {
		return false, err
	}
	if p.Delay != nil {
		if d := p.Delay(req); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return false, ctx.Err()
			}
		}
	}
	if err := p.Failures[req.User]; err != nil {
		return false, err
	}
	answer := p.Answer
	if answer == nil {
		answer = DefaultAnswer
	}
	return answer(req), nil
}

// Seen returns the requests that reached the pool, in order.
func (p *Pool) Seen() []framing.Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]framing.Request(nil), p.seen...)
}
