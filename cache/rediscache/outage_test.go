package rediscache_test

import (
	"bufio"
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/authpool/authpool/cache/cachetest"
	"github.com/authpool/authpool/cache/rediscache"
	"github.com/authpool/authpool/framing"
	"github.com/authpool/authpool/penalty/redisstore/redistest"
)

// These tests run real time against a real Redis, so they claim no upper
// bound on a wait but the one the daemon promises: an answer within its
// Redis timeout plus the helper's time, well inside what a caller waits.

// answers checks that d answers alice's right and wrong passwords as the
// helper says, each within limit, and reports how many reached it.
func answers(t *testing.T, h *cachetest.Helper, d daemon, right string, limit time.Duration, when string) int {
	t.Helper()
	before := h.Calls()
	for _, req := range []framing.Request{cachetest.Auth("alice", right), cachetest.Auth("alice", "wrong-"+right)} {
		start := time.Now()
		got, err := cachetest.Try(d.c, req)
		if took := time.Since(start); took > limit {
			t.Errorf("%s: %q took %v, more than %v", when, req.Password, took, limit)
		}
		if err != nil || got != h.Now(req) {
			t.Errorf("%s: %q = %v, %v; the helper says %v", when, req.Password, got, err, h.Now(req))
		}
	}
	return h.Calls() - before
}

// Redis killed, then back, then paused, then back: every answer is right
// and comes within the timeout; while Redis is away every lookup asks the
// helper; once back, answers are shared again; a password changed while
// Redis was away is not let in by an answer Redis kept from before.
func TestRedisOutage(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{Monitor: true})
	h := cachetest.NewHelper()
	const timeout = 200 * time.Millisecond
	ds := cluster(t, 2, h, rediscache.Config{URL: srv.URL(), Timeout: timeout,
		ProbeMin: 10 * time.Millisecond, ProbeMax: 100 * time.Millisecond})
	a, b := ds[0], ds[1]
	pw := cachetest.Passwords["alice"]
	var old []string // alice's passwords before pw
	shared := func(when string) {
		t.Helper()
		for _, d := range ds {
			waitMode(t, d.store, rediscache.ModeRedis, 10*time.Second)
		}
		for i, d := range ds {
			for _, o := range old {
				if cachetest.Ask(t, d.c, cachetest.Auth("alice", o)) {
					t.Errorf("%s: daemon %d let alice in with her old password %q", when, i, o)
				}
			}
		}
		answers(t, h, a, pw, 10*time.Second, when)
		if n := answers(t, h, b, pw, 10*time.Second, when); n != 0 {
			t.Errorf("%s: %d of b's answers reached the helper, want both from what a stored", when, n)
		}
	}
	shared("at start")

	// Without Redis, each answer comes from the helper, within the
	// timeout (and the helper's time).
	unshared := func(when string) {
		t.Helper()
		for i, d := range ds {
			if n := answers(t, h, d, pw, 5*timeout, when); n != 2 {
				t.Errorf("%s: daemon %d asked the helper %d times, want 2", when, i, n)
			}
		}
	}
	srv.Kill()
	unshared("Redis killed")
	// A change while Redis is away: Redis cannot be told.
	old, pw = append(old, pw), "changed-while-killed"
	if !cachetest.Ask(t, a.c, cachetest.Req(framing.OpSetPass, "alice", pw)) {
		t.Fatal("setpass refused")
	}
	srv.Restart() // its append-only file brings back the old answers
	shared("Redis back")

	const pause = 5 * time.Second
	srv.Pause(pause)
	start := time.Now()
	unshared("Redis paused")
	old, pw = append(old, pw), "changed-while-paused"
	if !cachetest.Ask(t, b.c, cachetest.Req(framing.OpSetPass, "alice", pw)) {
		t.Fatal("setpass refused")
	}
	if time.Since(start) > pause {
		t.Errorf("the checks outlasted the pause (%v): the machine is too slow for this test", time.Since(start))
	}
	shared("pause over")

	for i, d := range ds {
		st := d.store.Stats()
		t.Logf("daemon %d: %+v; cache %+v", i, st, d.c.Stats())
		if st.Fallbacks != 2 || st.Flushes < 2 {
			t.Errorf("daemon %d: %+v, want two fallbacks and an epoch flushed after each", i, st)
		}
		if n := strings.Count(d.log.String(), "Redis failed"); n != 1 {
			t.Errorf("daemon %d logged %d fallbacks, want one (at most one line every 10s):\n%s", i, n, d.log.String())
		}
	}
	checkNothingSecret(t, srv, "changed-while-killed", "changed-while-paused")
}

var clientID = regexp.MustCompile(`\bid=([0-9]+) `)

// A daemon whose connection was killed (CLIENT KILL) while another
// changed the user does not serve the old answer at its next request.
func TestConnectionKilled(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	h := cachetest.NewHelper()
	a := cluster(t, 1, h, rediscache.Config{URL: srv.URL() + "?client_name=daemon-a", Timeout: patient})[0]
	b := cluster(t, 1, h, rediscache.Config{URL: srv.URL(), Timeout: patient})[0]
	old := cachetest.Auth("alice", cachetest.Passwords["alice"])
	for _, d := range []daemon{a, b, a} {
		cachetest.Ask(t, d.c, old)
	}
	if h.Calls() != 1 {
		t.Fatalf("the helper was asked %d times, want 1", h.Calls())
	}
	killed := 0
	list, err := srv.Do("CLIENT", "LIST").ToString()
	if err != nil {
		t.Fatal(err)
	}
	for sc := bufio.NewScanner(strings.NewReader(list)); sc.Scan(); {
		if m := clientID.FindStringSubmatch(sc.Text()); m != nil && strings.Contains(sc.Text(), " name=daemon-a ") {
			if err := srv.Do("CLIENT", "KILL", "ID", m[1]).Error(); err != nil {
				t.Fatal(err)
			}
			killed++
		}
	}
	if killed == 0 {
		t.Fatalf("no connection of daemon a in:\n%s", list)
	}
	if !cachetest.Ask(t, b.c, cachetest.Req(framing.OpSetPass, "alice", "new")) {
		t.Fatal("setpass refused")
	}
	if cachetest.Ask(t, a.c, old) {
		t.Fatal("the old password let in through the daemon whose connection was killed")
	}
	if !cachetest.Ask(t, a.c, cachetest.Auth("alice", "new")) {
		t.Fatal("the new password refused")
	}
}

// A change that Redis refuses through one daemon only (its user lost the
// right to delete, as a daemon cut off from Redis) is not undone by the
// answers Redis holds: once that daemon is back, no daemon serves them.
func TestLostChangeFlushes(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{TCP: true})
	acl := append([]string{"ACL", "SETUSER", "a", "reset", "on", ">pw-a", "~authpool:cache:*"},
		strings.Fields(rediscache.ACLCommands)...)
	if err := srv.Do(acl...).Error(); err != nil {
		t.Fatal(err)
	}
	h := cachetest.NewHelper()
	urlA := strings.Replace(srv.URL(), "redis://", "redis://a:pw-a@", 1)
	a := cluster(t, 1, h, rediscache.Config{URL: urlA, Timeout: patient, ProbeMin: 10 * time.Millisecond, ProbeMax: 50 * time.Millisecond})[0]
	b := cluster(t, 1, h, rediscache.Config{URL: srv.URL(), Timeout: patient})[0]
	old := cachetest.Auth("alice", cachetest.Passwords["alice"])
	cachetest.Ask(t, b.c, old)

	if err := srv.Do("ACL", "SETUSER", "a", "-del").Error(); err != nil {
		t.Fatal(err)
	}
	if !cachetest.Ask(t, a.c, cachetest.Req(framing.OpSetPass, "alice", "new")) {
		t.Fatal("setpass refused")
	}
	if st := a.store.Stats(); st.Mode != rediscache.ModeLocal {
		t.Fatalf("daemon a: %+v, want it away from Redis after its change was refused", st)
	}
	if err := srv.Do("ACL", "SETUSER", "a", "+del").Error(); err != nil {
		t.Fatal(err)
	}
	waitMode(t, a.store, rediscache.ModeRedis, 10*time.Second)
	if st := a.store.Stats(); st.Flushes != 1 {
		t.Errorf("daemon a: %+v, want the epoch flushed once", st)
	}
	before := h.Calls()
	if cachetest.Ask(t, b.c, old) || h.Calls() == before {
		t.Fatal("daemon b served the answer from before the change")
	}
}

// checkNothingSecret scans Redis for the helper's passwords and users,
// more passwords, the cluster secret, and the unkeyed hashes anyone could
// compute from them (redistest.Server.Holds).
func checkNothingSecret(t *testing.T, srv *redistest.Server, more ...string) {
	t.Helper()
	plain := append([]string{string(cachetest.Secret), "example.com"}, more...)
	var hashed []string
	for u, pw := range cachetest.Passwords {
		plain = append(plain, u, pw)
		hashed = append(hashed, u, u+"@example.com", pw, u+pw, u+":example.com:"+pw, u+"@example.com:"+pw)
	}
	for _, pw := range more {
		hashed = append(hashed, pw, "alice"+pw, "alice:example.com:"+pw, "alice@example.com:"+pw)
	}
	for _, f := range srv.Holds(plain, hashed) {
		t.Errorf("Redis holds %s", f)
	}
}

// Keys of the store's that hold what it never writes (a wrong type, a
// tag of another length) send it to the helpers, every answer right,
// until they are gone; the probe does not take it back to Redis before.
func TestForeignValuesFallBack(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	h := cachetest.NewHelper()
	d := cluster(t, 1, h, rediscache.Config{URL: srv.URL(), Timeout: patient,
		ProbeMin: 10 * time.Millisecond, ProbeMax: 20 * time.Millisecond})[0]
	pw := cachetest.Passwords["alice"]
	answers(t, h, d, pw, 10*time.Second, "at start")
	for _, bad := range [][]string{
		{"HSET", "authpool:cache:epoch", "f", "1"},
		{"SET", "authpool:cache:epoch", "short"},
	} {
		srv.Do("DEL", "authpool:cache:epoch")
		if err := srv.Do(bad...).Error(); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if n := answers(t, h, d, pw, 10*time.Second, bad[0]); n != 2 {
				t.Errorf("%v: %d of 2 answers asked the helper, want both", bad, n)
			}
		}
		// Probes that find the value still there keep the store off
		// Redis.
		probed := d.store.Stats().ProbeErrors
		redistest.WaitFor(t, 10*time.Second, func() bool { return d.store.Stats().ProbeErrors >= probed+2 },
			func() string { return fmt.Sprintf("%v: the probe does not see it: %+v", bad, d.store.Stats()) })
		if st := d.store.Stats(); st.Mode != rediscache.ModeLocal {
			t.Errorf("%v: %+v, want the store off Redis", bad, st)
		}
	}
	srv.Do("DEL", "authpool:cache:epoch")
	waitMode(t, d.store, rediscache.ModeRedis, 10*time.Second)
	answers(t, h, d, pw, 10*time.Second, "repaired")
	if n := answers(t, h, d, pw, 10*time.Second, "repaired"); n != 0 {
		t.Errorf("repaired: %d answers asked the helper, want none", n)
	}
}

// A change whose caller gave up (its context ended) is still told to
// Redis, and is no Redis trouble: a caller that hangs up cannot send a
// daemon away from Redis, nor make it forget every shared answer.
func TestAbandonedChangeIsNoTrouble(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	h := cachetest.NewHelper()
	d := cluster(t, 1, h, rediscache.Config{URL: srv.URL(), Timeout: patient})[0]
	old := cachetest.Auth("alice", cachetest.Passwords["alice"])
	cachetest.Ask(t, d.c, old)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d.c.Do(ctx, cachetest.Req(framing.OpSetPass, "alice", "new")) // the helper applies it all the same
	if st := d.store.Stats(); st.Mode != rediscache.ModeRedis || st.Fallbacks != 0 || st.Invalidations != 2 {
		t.Errorf("after an abandoned setpass: %+v, want Redis told twice and still in use", st)
	}
	if cachetest.Ask(t, d.c, old) {
		t.Error("the old password let in after the abandoned setpass")
	}
}
