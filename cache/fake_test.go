package cache

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/authpool/authpool/framing"
	"github.com/authpool/authpool/result"
)

// fakeNext is a helper pool in memory: a user store, a count of the
// requests that reached it, and knobs to fail or hold requests.
type fakeNext struct {
	mu     sync.Mutex
	users  map[string]string // "user@server" → password
	calls  map[framing.Op]int
	errs   []error                   // returned by the next requests, in order
	refuse error                     // returned at once, without counting the request
	holdOp framing.Op                // when set, requests of this op wait for the test to answer
	held   chan chan<- result.Result // the channels of held requests, for the test to answer
}

func newFake() *fakeNext {
	return &fakeNext{
		users: map[string]string{"alice@example.com": "wonderland", "bob@example.com": "builder"},
		calls: make(map[framing.Op]int),
		held:  make(chan chan<- result.Result, 16),
	}
}

func (f *fakeNext) Do(_ context.Context, req framing.Request) (bool, error) {
	f.mu.Lock()
	if f.refuse != nil {
		f.mu.Unlock()
		return false, f.refuse
	}
	f.calls[req.Op]++
	if f.holdOp != 0 && req.Op == f.holdOp {
		f.mu.Unlock()
		res := make(chan result.Result, 1)
		f.held <- res
		r := <-res
		return r.OK, r.Err
	}
	defer f.mu.Unlock()
	if len(f.errs) > 0 {
		err := f.errs[0]
		f.errs = f.errs[1:]
		return false, err
	}
	return f.answer(req), nil
}

// answer applies req to the store, as a helper would. Callers hold f.mu.
func (f *fakeNext) answer(req framing.Request) bool {
	id := req.User + "@" + req.Server
	pw, exists := f.users[id]
	switch req.Op {
	case framing.OpAuth:
		return exists && pw == req.Password
	case framing.OpIsUser:
		return exists
	case framing.OpSetPass:
		if exists {
			f.users[id] = req.Password
		}
		return exists
	case framing.OpTryRegister:
		if !exists {
			f.users[id] = req.Password
		}
		return !exists
	case framing.OpRemoveUser:
		delete(f.users, id)
		return exists
	case framing.OpRemoveUser3:
		if exists && pw == req.Password {
			delete(f.users, id)
			return true
		}
	}
	return false
}

func (f *fakeNext) count(op framing.Op) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

func (f *fakeNext) setPassword(id, pw string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.users[id] = pw
}

// nextHeld returns the channel of the next held request.
func (f *fakeNext) nextHeld(t *testing.T) chan<- result.Result {
	t.Helper()
	select {
	case ch := <-f.held:
		return ch
	case <-time.After(10 * time.Second):
		t.Fatal("no request was held")
		return nil
	}
}

// fakeClock is a Config.Now that moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (k *fakeClock) Now() time.Time {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.t
}

func (k *fakeClock) Advance(d time.Duration) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.t = k.t.Add(d)
}

func auth(user, password string) framing.Request {
	return framing.Request{Op: framing.OpAuth, User: user, Server: "example.com", Password: password}
}

func isuser(user string) framing.Request {
	return framing.Request{Op: framing.OpIsUser, User: user, Server: "example.com"}
}

func setpass(user, password string) framing.Request {
	return framing.Request{Op: framing.OpSetPass, User: user, Server: "example.com", Password: password}
}

// ask asks d req and waits, at most 10s, for its result.
func ask(t *testing.T, d Doer, req framing.Request) result.Result {
	t.Helper()
	return recv(t, start(d, req))
}

// start asks d req in a goroutine of its own, for a test that answers a
// held request meanwhile; the channel receives the result.
func start(d Doer, req framing.Request) <-chan result.Result {
	res := make(chan result.Result, 1)
	go func() {
		yes, err := d.Do(context.Background(), req)
		res <- result.Result{OK: yes, Err: err}
	}()
	return res
}

func recv(t *testing.T, res <-chan result.Result) result.Result {
	t.Helper()
	select {
	case r := <-res:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no result within 10s")
		return result.Result{}
	}
}

func mustNew(t *testing.T, cfg Config) *Cache {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// checkIndex verifies that the LRU and the user index of c's
// MemoryStore agree, and that no user record outlives its entries once
// nothing is in flight.
func checkIndex(t *testing.T, c *Cache) {
	t.Helper()
	s := c.store.(*MemoryStore)
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for uk, st := range s.users {
		if st.pending != 0 {
			t.Errorf("user record with %d requests pending, none in flight", st.pending)
		}
		if len(st.entries) == 0 {
			t.Error("idle user record kept")
		}
		for ek := range st.entries {
			e, ok := s.entries.Peek(ek)
			if !ok || e.user != uk {
				t.Error("user index names an entry the LRU lacks or files elsewhere")
			}
			n++
		}
	}
	if n != s.entries.Len() {
		t.Errorf("user index holds %d entries, LRU %d", n, s.entries.Len())
	}
}
