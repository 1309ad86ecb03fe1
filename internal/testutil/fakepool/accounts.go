package fakepool

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/authpool/authpool/framing"
	"github.com/authpool/authpool/result"
)

// Accounts is a helper's user store, "user@server" → password, for fakes
// that keep users: the cache's tests, which change them.
type Accounts map[string]string

// Apply applies req to a as a helper would, and returns its answer: auth
// and isuser read, setpass, tryregister, removeuser and removeuser3
// change. Callers guard a against concurrent use.
func (a Accounts) Apply(req framing.Request) bool {
	id := req.User + "@" + req.Server
	pw, exists := a[id]
	switch req.Op {
	case framing.OpAuth:
		return exists && pw == req.Password
	case framing.OpIsUser:
		return exists
	case framing.OpSetPass:
		if exists {
			a[id] = req.Password
		}
		return exists
	case framing.OpTryRegister:
		if !exists {
			a[id] = req.Password
		}
		return !exists
	case framing.OpRemoveUser:
		delete(a, id)
		return exists
	case framing.OpRemoveUser3:
		if exists && pw == req.Password {
			delete(a, id)
			return true
		}
	}
	return false
}

// Users is a helper pool that keeps users in Accounts and applies every
// request to them, for the cache's tests: it counts the requests that
// reached it, and fails, refuses or holds them when told. Safe for
// concurrent use.
type Users struct {
	mu       sync.Mutex
	accounts Accounts
	calls    map[framing.Op]int
	errs     []error                   // returned by the next requests, in order
	refuse   error                     // returned at once, without counting the request
	holdOp   framing.Op                // when set, requests of this op wait for the test to answer
	held     chan chan<- result.Result // the channels of held requests
}

// NewUsers returns a pool of the users in a (which it takes).
func NewUsers(a Accounts) *Users {
	return &Users{accounts: a, calls: make(map[framing.Op]int), held: make(chan chan<- result.Result, 16)}
}

// Do implements the pool's Do. A held request waits for the test's answer
// (Held) or for its context to end.
func (u *Users) Do(ctx context.Context, req framing.Request) (bool, error) {
	u.mu.Lock()
	if u.refuse != nil {
		u.mu.Unlock()
		return false, u.refuse
	}
	u.calls[req.Op]++
	if u.holdOp != 0 && req.Op == u.holdOp {
		u.mu.Unlock()
		res := make(chan result.Result, 1)
		u.held <- res
		select {
		case r := <-res:
			return r.OK, r.Err
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
	defer u.mu.Unlock()
	if len(u.errs) > 0 {
		err := u.errs[0]
		u.errs = u.errs[1:]
		return false, err
	}
	return u.accounts.Apply(req), nil
}

// Count is how many requests of op reached the pool.
func (u *Users) Count(op framing.Op) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.calls[op]
}

// Calls is how many requests reached the pool.
func (u *Users) Calls() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := 0
	for _, c := range u.calls {
		n += c
	}
	return n
}

// Fail makes the next requests return errs, in order.
func (u *Users) Fail(errs ...error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.errs = append(u.errs, errs...)
}

// Refuse makes every request return err at once, uncounted, as a pool
// refuses what it cannot queue; nil ends it.
func (u *Users) Refuse(err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.refuse = err
}

// Hold makes requests of op wait for the test's answer (Held); zero ends
// it for requests to come.
func (u *Users) Hold(op framing.Op) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.holdOp = op
}

// Held waits, at most 10 s, for the next held request and returns the
// channel that answers it.
func (u *Users) Held(t testing.TB) chan<- result.Result {
	t.Helper()
	select {
	case ch := <-u.held:
		return ch
	case <-time.After(10 * time.Second):
		t.Fatal("no request was held")
		return nil
	}
}

// SetPassword changes a password behind the cache's back; id is
// user@server.
func (u *Users) SetPassword(id, pw string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.accounts[id] = pw
}

// Now is what the pool answers to an auth or isuser now, uncounted.
func (u *Users) Now(req framing.Request) bool {
	if req.Op != framing.OpAuth && req.Op != framing.OpIsUser {
		panic("fakepool: Now changes nothing")
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.accounts.Apply(req)
}

// Start asks d req in a goroutine of its own, with a 10 s deadline, for a
// test that answers a held request meanwhile; the channel receives the
// result (Recv).
func Start(d interface {
	Do(context.Context, framing.Request) (bool, error)
}, req framing.Request) <-chan result.Result {
	res := make(chan result.Result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		yes, err := d.Do(ctx, req)
		res <- result.Result{OK: yes, Err: err}
	}()
	return res
}

// Recv waits, at most 10 s, for a result of Start.
func Recv(t testing.TB, res <-chan result.Result) result.Result {
	t.Helper()
	select {
	case r := <-res:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no result within 10s")
		return result.Result{}
	}
}
