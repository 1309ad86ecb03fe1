package cache

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/authpool/authpool/framing"
	"github.com/authpool/authpool/result"
)

// TestChangesDropThatUsersEntries caches answers for alice and bob, passes
// one change for alice, and checks that alice's entries are asked again
// and bob's are not.
func TestChangesDropThatUsersEntries(t *testing.T) {
	alice := func(op framing.Op, pw string) framing.Request {
		return framing.Request{Op: op, User: "alice", Server: "example.com", Password: pw}
	}
	for _, tc := range []struct {
		name   string
		change framing.Request
	}{
		{"setpass", alice(framing.OpSetPass, "new")},
		{"removeuser", alice(framing.OpRemoveUser, "")},
		{"removeuser3", alice(framing.OpRemoveUser3, "wonderland")},
		{"tryregister", alice(framing.OpTryRegister, "again")},
		{"setpass to the same password", alice(framing.OpSetPass, "wonderland")},
		{"removeuser3 answered no", alice(framing.OpRemoveUser3, "wrong")},
	} {
		change := tc.change
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			c := mustNew(t, Config{Next: f, TTL: time.Minute, NegativeTTL: time.Minute})
			aliceReqs := []framing.Request{auth("alice", "wonderland"), auth("alice", "wrong"), isuser("alice")}
			bobReqs := []framing.Request{auth("bob", "builder"), isuser("bob")}
			// alice at another server is another account.
			elsewhere := framing.Request{Op: framing.OpIsUser, User: "alice", Server: "example.org"}
			kept := append(bobReqs, elsewhere)
			for _, r := range append(aliceReqs, kept...) {
				ask(t, c, r)
			}
			ask(t, c, change)
			if st := c.Stats(); st.Invalidations != 3 || st.Entries != 3 {
				t.Fatalf("stats %+v, want 3 invalidations, 3 entries left", st)
			}
			checkIndex(t, c)
			for _, r := range kept {
				before := f.Count(r.Op)
				ask(t, c, r)
				if f.Count(r.Op) != before {
					t.Errorf("%v reached the helper: another user's entry was dropped", r)
				}
			}
			for _, r := range aliceReqs {
				before := f.Count(r.Op)
				ans := ask(t, c, r)
				if f.Count(r.Op) == before {
					t.Errorf("%v answered from the cache after %v", r, change)
				}
				if want := f.Now(r); ans.OK != want {
					t.Errorf("%v = %v, want %v", r, ans.OK, want)
				}
			}
			checkIndex(t, c)
		})
	}
}

// TestAnswerInFlightAcrossSetpassNotStored: an auth is with a helper, which
// answers yes to the old password; a setpass passes meanwhile; the old yes
// arrives after it. It must be delivered but not stored.
func TestAnswerInFlightAcrossSetpassNotStored(t *testing.T) {
	f := newFake()
	f.Hold(framing.OpAuth)
	c := mustNew(t, Config{Next: f, TTL: time.Minute, NegativeTTL: time.Minute})
	old := auth("alice", "wonderland")

	res := start(c, old)
	heldAuth := f.Held(t)
	if r := ask(t, c, setpass("alice", "new")); !r.OK {
		t.Fatalf("setpass: %+v", r)
	}
	heldAuth <- result.Result{OK: true} // the helper's answer from before the change
	if r := recv(t, res); !r.OK || r.Err != nil {
		t.Fatalf("held auth: %+v, want its yes delivered", r)
	}
	if st := c.Stats(); st.Entries != 0 {
		t.Fatalf("stats %+v: the stale yes was stored", st)
	}
	checkIndex(t, c)

	res = start(c, old)
	f.Held(t) <- result.Result{OK: f.Now(old)}
	if r := recv(t, res); r.OK {
		t.Fatal("old password accepted after setpass")
	}
	if got := f.Count(framing.OpAuth); got != 2 {
		t.Errorf("helper asked %d auths, want 2", got)
	}
}

// TestAnswerStoredDuringSetpassDropped: a setpass is with a helper that has
// not applied it yet; an auth with the old password is answered yes and
// stored meanwhile. When the setpass answers, that entry must go.
func TestAnswerStoredDuringSetpassDropped(t *testing.T) {
	f := newFake()
	f.Hold(framing.OpSetPass)
	c := mustNew(t, Config{Next: f, TTL: time.Minute, NegativeTTL: time.Minute})
	old := auth("alice", "wonderland")

	res := start(c, setpass("alice", "new"))
	heldSetpass := f.Held(t)
	if r := ask(t, c, old); !r.OK {
		t.Fatal("old password refused before the setpass was applied")
	}
	f.SetPassword("alice@example.com", "new")
	heldSetpass <- result.Result{OK: true}
	if r := recv(t, res); !r.OK {
		t.Fatalf("setpass: %+v", r)
	}
	if st := c.Stats(); st.Entries != 0 || st.Invalidations != 1 {
		t.Fatalf("stats %+v, want the yes stored during the setpass dropped", st)
	}
	if r := ask(t, c, old); r.OK {
		t.Fatal("old password accepted after setpass")
	}
	if r := ask(t, c, auth("alice", "new")); !r.OK {
		t.Fatal("new password refused")
	}
	checkIndex(t, c)
}

// TestConcurrentUse runs auths, isusers and setpasses for a few users at
// once, under the race detector, then checks the indexes agree and that
// every cached answer is what the store says now.
func TestConcurrentUse(t *testing.T) {
	f := newFake()
	users := []string{"alice", "bob", "carol", "dave"}
	for _, u := range users {
		f.SetPassword(u+"@example.com", "pw0")
	}
	c := mustNew(t, Config{Next: f, TTL: time.Hour, NegativeTTL: time.Hour, MaxEntries: 8})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 200 {
				u := users[(w+i)%len(users)]
				var req framing.Request
				switch i % 5 {
				case 0:
					req = setpass(u, fmt.Sprintf("pw%d", i%3))
				case 1:
					req = isuser(u)
				default:
					req = auth(u, fmt.Sprintf("pw%d", i%3))
				}
				if _, err := c.Do(context.Background(), req); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	checkIndex(t, c)
	// Every request has been answered and no change is in flight: a cached
	// answer that differs from the store would be a stale one.
	for _, u := range users {
		for i := range 3 {
			req := auth(u, fmt.Sprintf("pw%d", i))
			if got, want := ask(t, c, req).OK, f.Now(req); got != want {
				t.Errorf("%v = %v, store says %v", req, got, want)
			}
		}
	}
}
