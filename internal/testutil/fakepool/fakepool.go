// Package fakepool is a helper pool in memory for the tests of the layers
// above pool (server, client): it answers by a rule, after a delay of the
// test's choosing, fails the requests of chosen users, and records every
// request that reached it. It is a package of its own, not part of
// testutil, so that testutil stays free of the packages it serves.
package fakepool

import (
	"context"
	"sync"
	"time"

	"github.com/authpool/authpool/framing"
	"github.com/authpool/authpool/result"
)

// Pool is a Submitter in memory. Every field is optional; the zero value
// answers by DefaultAnswer at once.
type Pool struct {
	// Answer decides a request's yes or no; nil means DefaultAnswer.
	Answer func(framing.Request) bool
	// Delay is how long a request waits for its answer; nil means none.
	Delay func(framing.Request) time.Duration
	// Failures are the Result.Err of the requests of these users.
	Failures map[string]error
	// Refusals are what Submit itself returns for these users.
	Refusals map[string]error

	wg   sync.WaitGroup
	mu   sync.Mutex
	seen []framing.Request
}

// DefaultAnswer is yes to isuser, and to auth when the password is "pw-"
// and the user's name.
func DefaultAnswer(req framing.Request) bool {
	return req.Op == framing.OpIsUser || req.Password == "pw-"+req.User
}

// Submit records req and answers it from a goroutine of its own, as a pool
// does; Wait waits for those goroutines.
func (p *Pool) Submit(_ context.Context, req framing.Request) (<-chan result.Result, error) {
	p.mu.Lock()
	p.seen = append(p.seen, req)
	p.mu.Unlock()
	if err := p.Refusals[req.User]; err != nil {
		return nil, err
	}
	ch := make(chan result.Result, 1)
	p.wg.Go(func() {
		if p.Delay != nil {
			time.Sleep(p.Delay(req)) // the fake helper's work
		}
		if err := p.Failures[req.User]; err != nil {
			ch <- result.Result{Err: err}
			return
		}
		answer := p.Answer
		if answer == nil {
			answer = DefaultAnswer
		}
		ch <- result.Result{OK: answer(req)}
	})
	return ch, nil
}

// Seen returns the requests that reached the pool, in order.
func (p *Pool) Seen() []framing.Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]framing.Request(nil), p.seen...)
}

// Wait waits until every request submitted so far is answered.
func (p *Pool) Wait() { p.wg.Wait() }
