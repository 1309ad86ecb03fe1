package cache

import (
	"sync"
	"testing"
	"time"

	"github.com/authpool/authpool/framing"
	"github.com/authpool/authpool/internal/testutil/fakepool"
	"github.com/authpool/authpool/result"
)

// fakeNext is a helper pool in memory that keeps users: alice and bob.
type fakeNext = fakepool.Users

func newFake() *fakeNext {
	return fakepool.NewUsers(fakepool.Accounts{"alice@example.com": "wonderland", "bob@example.com": "builder"})
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

// start asks d req in a goroutine of its own; recv waits for its result.
func start(d Doer, req framing.Request) <-chan result.Result { return fakepool.Start(d, req) }

func recv(t *testing.T, res <-chan result.Result) result.Result {
	t.Helper()
	return fakepool.Recv(t, res)
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
