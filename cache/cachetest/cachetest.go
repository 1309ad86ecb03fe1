// Package cachetest is the conformance suite of cache.Store: every store,
// the daemon's cache.MemoryStore and the Redis store shared by several
// daemons (cache/rediscache), passes the same tests, run through a
// cache.Cache in front of a helper in memory, so a daemon's cache behaves
// the same on either.
//
// Time: a store with a clock of its own (MemoryStore's Now) is moved by
// hand; a store on Redis's clock is moved by sleeping. The suite only ever
// claims that an entry is gone after more than its TTL, and that one with
// an hour to live is still there, so sleeping makes no test depend on how
// fast the machine is.
package cachetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/authpool/authpool/cache"
	"github.com/authpool/authpool/framing"
	"github.com/authpool/authpool/internal/testutil/fakepool"
	"github.com/authpool/authpool/result"
)

// Fixture is what the suite asks of a store under test.
type Fixture struct {
	// A and B are two instances on the same state, as two daemons on one
	// Redis: what one stores the other finds, and a change through one
	// reaches the other. A store of one process gives itself twice.
	A, B cache.Store
	// Advance moves the stores' clock by d: by hand, or by sleeping.
	Advance func(d time.Duration)
	// Bound is the most entries the store keeps, or zero for a store
	// whose bound is its server's.
	Bound int
}

// NewFixture makes a fresh fixture, owned by t (its stores closed, if
// they need closing, by t.Cleanup), whose stores see nothing of any other
// fixture's.
type NewFixture func(t *testing.T) Fixture

// Secret is the cluster secret of the suite's caches.
var Secret = bytes.Repeat([]byte("cachetest-cluster-secret:"), 2)

// Run runs the suite against fixtures made by newFixture.
func Run(t *testing.T, newFixture NewFixture) {
	tests := []struct {
		name string
		f    func(*testing.T, Fixture)
	}{
		{"HitMiss", testHitMiss},
		{"TTL", testTTL},
		{"ErrorsNotCached", testErrorsNotCached},
		{"InFlightAcrossChangeNotStored", testInFlightAcrossChange},
		{"StoredDuringChangeForgotten", testStoredDuringChange},
		{"Bounded", testBounded},
		{"Shared", testShared},
		{"SharedInFlight", testSharedInFlight},
		{"Concurrent", testConcurrent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.f(t, newFixture(t)) })
	}
	t.Run("ChangeForgetsUser", func(t *testing.T) { testChangeForgetsUser(t, newFixture) })
}

// Helper is a helper pool in memory that keeps users and applies
// changes to them, counts the requests that reached it, and fails or
// holds them when told.
type Helper = fakepool.Users

// NewHelper returns a helper that knows the users of Passwords, at
// example.com.
func NewHelper() *Helper {
	a := make(fakepool.Accounts)
	for u, pw := range Passwords {
		a[u+"@example.com"] = pw
	}
	return fakepool.NewUsers(a)
}

// Passwords are the helper's users and their passwords, which a store
// must never hold (see the package's tests of what Redis holds).
var Passwords = map[string]string{"alice": "wonderland-Qx7", "bob": "builder-Zk3", "carol": "carol-pw-Lm5"}

// Req makes a request about user at example.com.
func Req(op framing.Op, user, password string) framing.Request {
	return framing.Request{Op: op, User: user, Server: "example.com", Password: password}
}

// Auth and IsUser are the cacheable requests.
func Auth(user, password string) framing.Request { return Req(framing.OpAuth, user, password) }

// IsUser asks whether user exists.
func IsUser(user string) framing.Request { return Req(framing.OpIsUser, user, "") }

// NewCache makes a cache with the suite's secret in front of h on s.
func NewCache(t testing.TB, h cache.Doer, s cache.Store, ttl, negTTL time.Duration) *cache.Cache {
	t.Helper()
	c, err := cache.New(cache.Config{Next: h, Store: s, TTL: ttl, NegativeTTL: negTTL, Secret: Secret})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Ask asks d req, bounded, and fails t on an error.
func Ask(t testing.TB, d cache.Doer, req framing.Request) bool {
	t.Helper()
	yes, err := Try(d, req)
	if err != nil {
		t.Fatalf("%v %s: %v", req.Op, req.User, err)
	}
	return yes
}

// Try asks d req with a 10 s deadline.
func Try(d cache.Doer, req framing.Request) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return d.Do(ctx, req)
}

// reaches asks req through c and reports whether it reached h, failing t
// if the answer is not what h says now.
func reaches(t *testing.T, h *Helper, c cache.Doer, req framing.Request) bool {
	t.Helper()
	before := h.Calls()
	got := Ask(t, c, req)
	if req.Op != framing.OpAuth && req.Op != framing.OpIsUser {
		return h.Calls() > before
	}
	if want := h.Now(req); got != want {
		t.Errorf("%v %s %q = %v, the helper says %v", req.Op, req.User, req.Password, got, want)
	}
	return h.Calls() > before
}

// wantReaches checks, in order, which requests reach the helper.
func wantReaches(t *testing.T, h *Helper, c cache.Doer, steps ...step) {
	t.Helper()
	for i, s := range steps {
		if got := reaches(t, h, c, s.req); got != s.reaches {
			t.Errorf("step %d, %v %s %q: reached the helper %v, want %v", i, s.req.Op, s.req.User, s.req.Password, got, s.reaches)
		}
	}
}

type step struct {
	req     framing.Request
	reaches bool
}

func testHitMiss(t *testing.T, f Fixture) {
	h := NewHelper()
	c := NewCache(t, h, f.A, time.Hour, time.Hour)
	wantReaches(t, h, c,
		step{Auth("alice", Passwords["alice"]), true},
		step{Auth("alice", Passwords["alice"]), false},
		step{Auth("alice", "wrong"), true},
		step{Auth("alice", "wrong"), false},
		step{Auth("bob", Passwords["alice"]), true}, // another user, the same password
		step{IsUser("alice"), true},
		step{IsUser("alice"), false},
		step{IsUser("nobody"), true},
		step{IsUser("nobody"), false},
		step{framing.Request{Op: framing.OpIsUser, User: "alice", Server: "example.org"}, true}, // another server
		step{Req(framing.OpSetPass, "carol", Passwords["carol"]), true},                         // never cached
		step{Req(framing.OpSetPass, "carol", Passwords["carol"]), true},
	)
	if st := c.Stats(); st.Hits != 4 || st.Misses != 6 {
		t.Errorf("stats %+v, want 4 hits and 6 misses", st)
	}
}

// testTTL: a yes and a no with different TTLs, both ways round; only what
// is past its TTL is asked again.
func testTTL(t *testing.T, f Fixture) {
	const short = 100 * time.Millisecond
	yes, no := Auth("alice", Passwords["alice"]), Auth("alice", "wrong")
	h := NewHelper()
	longYes := NewCache(t, h, f.A, time.Hour, short)
	wantReaches(t, h, longYes, step{yes, true}, step{no, true})
	f.Advance(2 * short)
	wantReaches(t, h, longYes, step{yes, false}, step{no, true}, step{no, false})

	isu, isnt := IsUser("bob"), IsUser("nobody")
	longNo := NewCache(t, h, f.A, short, time.Hour)
	wantReaches(t, h, longNo, step{isu, true}, step{isnt, true})
	f.Advance(2 * short)
	wantReaches(t, h, longNo, step{isnt, false}, step{isu, true}, step{isu, false})

	// A zero TTL keeps nothing of its kind.
	onlyNo := NewCache(t, h, f.A, 0, time.Hour)
	other := Auth("carol", Passwords["carol"])
	wantReaches(t, h, onlyNo, step{other, true}, step{other, true})
}

func testErrorsNotCached(t *testing.T, f Fixture) {
	h := NewHelper()
	c := NewCache(t, h, f.A, time.Hour, time.Hour)
	req := Auth("alice", Passwords["alice"])
	boom := errors.New("helper timed out")
	h.Fail(boom)
	if yes, err := Try(c, req); !errors.Is(err, boom) || yes {
		t.Fatalf("first ask: %v, %v; want the error passed on", yes, err)
	}
	wantReaches(t, h, c, step{req, true}, step{req, false})
}

func testChangeForgetsUser(t *testing.T, newFixture NewFixture) {
	for _, change := range []framing.Request{
		Req(framing.OpSetPass, "alice", "new"),
		Req(framing.OpSetPass, "alice", Passwords["alice"]), // to the same password
		Req(framing.OpRemoveUser, "alice", ""),
		Req(framing.OpRemoveUser3, "alice", Passwords["alice"]),
		Req(framing.OpRemoveUser3, "alice", "wrong"), // answered no
		Req(framing.OpTryRegister, "alice", "again"),
	} {
		t.Run(fmt.Sprintf("%v %q", change.Op, change.Password), func(t *testing.T) {
			f := newFixture(t)
			h := NewHelper()
			c := NewCache(t, h, f.A, time.Hour, time.Hour)
			alice := []framing.Request{Auth("alice", Passwords["alice"]), Auth("alice", "wrong"), IsUser("alice")}
			kept := []framing.Request{Auth("bob", Passwords["bob"]), IsUser("bob"),
				{Op: framing.OpIsUser, User: "alice", Server: "example.org"}}
			for _, r := range append(append([]framing.Request{}, alice...), kept...) {
				Ask(t, c, r)
			}
			Ask(t, c, change)
			for _, r := range kept {
				wantReaches(t, h, c, step{r, false})
			}
			for _, r := range alice {
				wantReaches(t, h, c, step{r, true})
			}
		})
	}
}

// testInFlightAcrossChange: an auth is with the helper, which answers yes
// to the old password; a setpass passes meanwhile; the old yes arrives
// after it. It is delivered, and not stored.
func testInFlightAcrossChange(t *testing.T, f Fixture) { inFlightAcrossChange(t, f, f.A) }

// testSharedInFlight: the same, the setpass through the other instance,
// as through another daemon.
func testSharedInFlight(t *testing.T, f Fixture) { inFlightAcrossChange(t, f, f.B) }

func inFlightAcrossChange(t *testing.T, f Fixture, through cache.Store) {
	h := NewHelper()
	c := NewCache(t, h, f.A, time.Hour, time.Hour)
	changer := NewCache(t, h, through, time.Hour, time.Hour)
	old := Auth("alice", Passwords["alice"])
	h.Hold(framing.OpAuth)
	res := fakepool.Start(c, old)
	held := h.Held(t)
	h.Hold(0)
	if !Ask(t, changer, Req(framing.OpSetPass, "alice", "new")) {
		t.Fatal("setpass refused")
	}
	held <- result.Result{OK: true} // the helper's answer from before the change
	if r := fakepool.Recv(t, res); !r.OK || r.Err != nil {
		t.Fatalf("held auth: %+v, want its yes delivered", r)
	}
	wantReaches(t, h, changer, step{old, true})
	wantReaches(t, h, c, step{old, false}, step{Auth("alice", "new"), true})
}

// testStoredDuringChange: a setpass is with a helper that has not applied
// it yet; an auth with the old password is answered yes and stored
// meanwhile. When the setpass answers, that answer goes.
func testStoredDuringChange(t *testing.T, f Fixture) {
	h := NewHelper()
	c := NewCache(t, h, f.A, time.Hour, time.Hour)
	old := Auth("alice", Passwords["alice"])
	h.Hold(framing.OpSetPass)
	res := fakepool.Start(c, Req(framing.OpSetPass, "alice", "new"))
	held := h.Held(t)
	if !Ask(t, c, old) {
		t.Fatal("old password refused before the setpass was applied")
	}
	h.SetPassword("alice@example.com", "new")
	held <- result.Result{OK: true}
	if r := fakepool.Recv(t, res); !r.OK || r.Err != nil {
		t.Fatalf("setpass: %+v", r)
	}
	wantReaches(t, h, c, step{old, true}, step{old, false})
}

func testBounded(t *testing.T, f Fixture) {
	if f.Bound == 0 {
		t.Skip("the store's bound is its server's")
	}
	h := NewHelper()
	c := NewCache(t, h, f.A, time.Hour, time.Hour)
	for i := range 3 * f.Bound {
		Ask(t, c, IsUser(fmt.Sprintf("user%d", i)))
	}
	if st := f.A.StoreStats(); st.Entries > f.Bound || st.Evictions == 0 {
		t.Errorf("store stats %+v, want at most %d entries, and evictions", st, f.Bound)
	}
}

// testShared: two caches, as in two daemons, on the two instances.
func testShared(t *testing.T, f Fixture) {
	h := NewHelper()
	a := NewCache(t, h, f.A, time.Hour, time.Hour)
	b := NewCache(t, h, f.B, time.Hour, time.Hour)
	yes, no := Auth("alice", Passwords["alice"]), Auth("alice", "wrong")
	wantReaches(t, h, a, step{yes, true}, step{no, true})
	wantReaches(t, h, b, step{yes, false}, step{no, false})
	Ask(t, b, Req(framing.OpSetPass, "alice", "new"))
	wantReaches(t, h, a, step{yes, true}, step{Auth("alice", "new"), true})
	wantReaches(t, h, b, step{yes, false}, step{Auth("alice", "new"), false})
}

// testConcurrent runs auths, isusers and setpasses for a few users
// through both instances at once, then checks that every cached answer is
// what the helper says now.
func testConcurrent(t *testing.T, f Fixture) {
	h := NewHelper()
	users := []string{"alice", "bob", "carol", "dave"}
	for _, u := range users {
		h.SetPassword(u+"@example.com", "pw0")
	}
	caches := []*cache.Cache{NewCache(t, h, f.A, time.Hour, time.Hour), NewCache(t, h, f.B, time.Hour, time.Hour)}
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			c := caches[w%2]
			for i := range 60 {
				u := users[(w+i)%len(users)]
				var req framing.Request
				switch i % 5 {
				case 0:
					req = Req(framing.OpSetPass, u, fmt.Sprintf("pw%d", i%3))
				case 1:
					req = IsUser(u)
				default:
					req = Auth(u, fmt.Sprintf("pw%d", i%3))
				}
				if _, err := Try(c, req); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, c := range caches {
		for _, u := range users {
			for i := range 3 {
				req := Auth(u, fmt.Sprintf("pw%d", i))
				if got, want := Ask(t, c, req), h.Now(req); got != want {
					t.Errorf("%s pw%d = %v, the helper says %v", u, i, got, want)
				}
			}
		}
	}
}
