package redisstore_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authpool/authpool/penalty"
	"github.com/authpool/authpool/penalty/redisstore"
	"github.com/authpool/authpool/penalty/redisstore/redistest"
)

// These tests run real time against a real Redis, so they claim no upper
// bound on a wait: only that a penalty was met (a lower bound, which load
// cannot break) or refused at once (ErrPenalised, which takes no time).
// What is shared is read from Redis itself.

const (
	guesser = "192.0.2.66"
	prefix  = "authpool:penalty:"
)

// failures is each penalty key's count in Redis.
func failures(t *testing.T, srv *redistest.Server) map[string]int {
	t.Helper()
	return srv.IntFields(prefix, "f")
}

// wantShared checks that Redis holds the guesser's three keys (its
// address, its pair with alice, alice) and each counts n failures.
func wantShared(t *testing.T, srv *redistest.Server, n int, when string) {
	t.Helper()
	if got, ok := srv.Uniform(prefix, "f", 3, n); !ok {
		t.Errorf("%s: Redis holds %v, want three keys of %d failures", when, got, n)
	}
}

// Done when: three daemons, one Redis. Distinct wrong passwords from one
// address spread over the three meet one rising delay, not three fresh
// ones; the same wrong password repeated does not raise it; the window
// forgets.
func TestThreeDaemonsOneRisingDelay(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{Monitor: true})
	const base = 300 * time.Millisecond
	const window = 3 * time.Second
	ds := cluster(t, 3,
		penalty.Config{Base: base, Max: 8 * base, UserMax: base, Window: window},
		redisstore.Config{URL: srv.URL(), Window: window, Timeout: patient})

	// Failure i through daemon i%3: each daemon meets the penalty of all
	// the failures before it, whichever daemon saw them. Three daemons
	// each with its own penalties would have let the second and third
	// through at once, and the fourth after Base.
	last := time.Now()
	for i := range 4 {
		d := ds[i%3]
		gap := time.Since(last) // what the penalty has run down meanwhile
		ok, took, err := d.try(auth("alice", fmt.Sprint("guess-", i), guesser), time.Minute)
		last = time.Now()
		if ok || err != nil {
			t.Fatalf("guess %d through daemon %d: %v, %v", i, i%3, ok, err)
		}
		if i > 0 {
			if penalty := base << (i - 1); took < penalty-gap-50*time.Millisecond {
				t.Errorf("guess %d through daemon %d waited %v, %v after the last; the shared penalty is %v", i, i%3, took, gap, penalty)
			}
		}
		wantShared(t, srv, i+1, fmt.Sprintf("after guess %d", i))
	}

	// The same wrong password, through each daemon at once: one mark in
	// Redis, so no daemon raises the count.
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() {
			if ok, _, err := ds[i].try(auth("alice", "guess-3", guesser), time.Minute); ok || err != nil {
				t.Errorf("repeat through daemon %d: %v, %v", i, ok, err)
			}
		})
	}
	wg.Wait()
	wantShared(t, srv, 4, "after the last guess repeated through each daemon")
	repeats := uint64(0)
	for _, d := range ds {
		repeats += d.g.Stats().Repeats
	}
	if repeats != 3 {
		t.Errorf("%d repeats counted, want 3", repeats)
	}

	// The window forgets: Redis expires every key a window after its last
	// failure, and the next guess starts the count afresh.
	deadline := time.Now().Add(window + 10*time.Second)
	for len(failures(t, srv)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("Redis still holds %v a window after the last failure", failures(t, srv))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if ok, _, err := ds[1].try(auth("alice", "guess-after", guesser), time.Minute); ok || err != nil {
		t.Fatalf("a guess after the window: %v, %v", ok, err)
	}
	wantShared(t, srv, 1, "a guess a window later")

	for i, d := range ds {
		if st := d.store.Stats(); st.Mode != redisstore.ModeRedis || st.Errors != 0 {
			t.Errorf("daemon %d's store: %+v, want every call answered by Redis", i, st)
		}
	}
	checkNothingSecret(t, srv)
}

// Done when: Redis killed, then paused, then back. Every daemon keeps
// answering right and wrong passwords within its deadline, local penalties
// apply meanwhile, shared ones resume afterwards.
func TestRedisOutage(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{Monitor: true})
	// A long Base against short deadlines: a check that a penalty is met
	// (ErrPenalised, at once) holds unless the test is held up for most of
	// a second between a failure and the check.
	const base = time.Second
	ds := cluster(t, 3,
		penalty.Config{Base: base, Max: 8 * base, UserMax: 100 * time.Millisecond, Window: time.Minute},
		redisstore.Config{URL: srv.URL(), Window: time.Minute, Timeout: 500 * time.Millisecond,
			ProbeMin: 20 * time.Millisecond, ProbeMax: 200 * time.Millisecond})
	const deadline = 2 * time.Second // each request's, as a daemon's --timeout

	// serves checks that every daemon answers a right and a wrong password
	// from addresses new to it (from net) within its deadline.
	serves := func(when string, net int) {
		t.Helper()
		for i, d := range ds {
			ok, took, err := d.try(auth("bob", passwords["bob"], fmt.Sprintf("198.51.100.%d", net+i)), deadline)
			if !ok || err != nil {
				t.Errorf("%s: daemon %d refused bob's right password: %v, %v (after %v)", when, i, ok, err, took)
			}
			ok, took, err = d.try(auth("bob", "not-bobs", fmt.Sprintf("198.51.100.%d", net+10+i)), deadline)
			if ok || err != nil {
				t.Errorf("%s: daemon %d on a wrong password: %v, %v (after %v)", when, i, ok, err, took)
			}
		}
	}
	// localPenalty checks that a daemon penalises an address it saw fail
	// itself, and that another daemon, which did not, lets it through.
	localPenalty := func(when, addr string) {
		t.Helper()
		for i := range 2 {
			ds[0].try(auth("alice", fmt.Sprintf("%s-%d", when, i), addr), deadline)
		}
		if _, _, err := ds[0].try(auth("alice", when+"-x", addr), base/4); !errors.Is(err, penalty.ErrPenalised) {
			t.Errorf("%s: the daemon that saw two failures let a third guess through: %v", when, err)
		}
		if _, _, err := ds[1].try(auth("alice", when+"-y", addr), deadline); err != nil {
			t.Errorf("%s: a daemon that saw no failure of %s: %v", when, addr, err)
		}
	}
	// sharedPenalty fails the guesser once through daemon i and checks
	// Redis counts n, and that another daemon meets the penalty.
	sharedPenalty := func(when string, i, n int) {
		t.Helper()
		for _, d := range ds {
			waitMode(t, d.store, redisstore.ModeRedis, 10*time.Second)
		}
		if ok, _, err := ds[i].try(auth("alice", when, guesser), time.Minute); ok || err != nil {
			t.Fatalf("%s: guess through daemon %d: %v, %v", when, i, ok, err)
		}
		wantShared(t, srv, n, when)
		if _, _, err := ds[(i+1)%3].try(auth("alice", when+"-next", guesser), base/4); !errors.Is(err, penalty.ErrPenalised) {
			t.Errorf("%s: another daemon let the guesser through: %v", when, err)
		}
	}

	sharedPenalty("before", 0, 1)
	sharedPenalty("before-2", 1, 2)

	srv.Kill()
	serves("Redis killed", 10)
	localPenalty("killed", "203.0.113.5")
	for i, d := range ds {
		if st := d.store.Stats(); st.Mode != redisstore.ModeLocal || st.Fallbacks < 1 || st.Errors == 0 {
			t.Errorf("daemon %d with Redis killed: %+v, want local after a fallback", i, st)
		}
	}

	srv.Restart() // its append-only file brings back what it held
	sharedPenalty("restarted", 2, 3)

	var fallbacks [3]uint64
	for i, d := range ds {
		fallbacks[i] = d.store.Stats().Fallbacks
	}
	const pause = 8 * time.Second
	srv.Pause(pause)
	start := time.Now()
	serves("Redis paused", 30)
	localPenalty("paused", "203.0.113.6")
	if time.Since(start) > pause {
		t.Errorf("the checks outlasted the pause (%v): the machine is too slow for this test", time.Since(start))
	}
	for i, d := range ds {
		if st := d.store.Stats(); st.Fallbacks <= fallbacks[i] {
			t.Errorf("daemon %d after the pause: %+v, want a second fallback", i, st)
		}
	}

	sharedPenalty("unpaused", 1, 4)

	for i, d := range ds {
		st := d.store.Stats()
		t.Logf("daemon %d: %+v", i, st)
		if n := strings.Count(d.log.String(), "Redis failed"); n != 1 {
			t.Errorf("daemon %d logged %d fallbacks, want one (at most one line every 10s):\n%s", i, n, d.log.String())
		}
		if s := d.g.Stats(); s.StoreErrors != 0 {
			t.Errorf("daemon %d's Guard saw %d store errors: the store must answer every call itself", i, s.StoreErrors)
		}
	}
	checkNothingSecret(t, srv)
}

// checkNothingSecret scans all Redis holds and was told (every key, value
// and DUMP, its append-only file, every command MONITOR saw) for what
// the tests' requests held: the passwords, the user names, the addresses,
// the secret, and the unkeyed hashes anyone could compute from a guessed
// password (redistest.Server.Holds).
func checkNothingSecret(t *testing.T, srv *redistest.Server) {
	t.Helper()
	pws := []string{"guess-0", "guess-3", "not-bobs", "killed-0", "paused-1", "unpaused"}
	for _, pw := range passwords {
		pws = append(pws, pw)
	}
	plain := append([]string{string(secret), "alice", "example.com", guesser, "203.0.113.5"}, pws...)
	var hashed []string
	for _, pw := range pws {
		hashed = append(hashed, pw, "alice"+pw, "bob"+pw, "alice:example.com:"+pw, "bob:example.com:"+pw, "alice@example.com:"+pw)
	}
	for _, f := range srv.Holds(plain, hashed) {
		t.Errorf("Redis holds %s", f)
	}
}
