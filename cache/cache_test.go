package cache

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/authpool/authpool/framing"
	"github.com/authpool/authpool/result"
)

func TestNewRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"no next", Config{TTL: time.Minute}},
		{"negative TTL", Config{Next: newFake(), TTL: -time.Second}},
		{"negative NegativeTTL", Config{Next: newFake(), NegativeTTL: -time.Second}},
		{"negative MaxEntries", Config{Next: newFake(), TTL: time.Minute, MaxEntries: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cfg); err == nil {
				t.Fatal("New accepted it")
			}
		})
	}
}

// TestRepeats asks the same question three times and counts how many
// reached the helper: one when its kind of answer is cached, three when
// not.
func TestRepeats(t *testing.T) {
	for _, tc := range []struct {
		name        string
		ttl, negTTL time.Duration
		req         framing.Request
		want        bool
		calls       int
	}{
		{"auth yes, yes cached", time.Minute, 0, auth("alice", "wonderland"), true, 1},
		{"auth yes, only no cached", 0, time.Minute, auth("alice", "wonderland"), true, 3},
		{"auth no, no cached", 0, time.Minute, auth("alice", "wrong"), false, 1},
		{"auth no, only yes cached", time.Minute, 0, auth("alice", "wrong"), false, 3},
		{"isuser yes, yes cached", time.Minute, 0, isuser("bob"), true, 1},
		{"isuser yes, only no cached", 0, time.Minute, isuser("bob"), true, 3},
		{"isuser no, no cached", 0, time.Minute, isuser("nobody"), false, 1},
		{"isuser no, only yes cached", time.Minute, 0, isuser("nobody"), false, 3},
		{"auth yes, both cached", time.Minute, time.Minute, auth("alice", "wonderland"), true, 1},
		{"auth no, both cached", time.Minute, time.Minute, auth("alice", "wrong"), false, 1},
		{"auth yes, none cached", 0, 0, auth("alice", "wonderland"), true, 3},
		{"isuser no, none cached", 0, 0, isuser("nobody"), false, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			c := mustNew(t, Config{Next: f, TTL: tc.ttl, NegativeTTL: tc.negTTL})
			for i := range 3 {
				if r := ask(t, c, tc.req); r.Err != nil || r.OK != tc.want {
					t.Fatalf("ask %d: %+v, want OK=%v", i, r, tc.want)
				}
			}
			if got := f.Count(tc.req.Op); got != tc.calls {
				t.Errorf("helper asked %d times, want %d", got, tc.calls)
			}
			st := c.Stats()
			if cached := tc.calls == 1; cached && (st.Hits != 2 || st.Misses != 1 || st.Entries != 1) {
				t.Errorf("stats %+v, want 2 hits, 1 miss, 1 entry", st)
			}
			checkIndex(t, c)
		})
	}
}

func TestBothTTLsZeroPassesEverythingThrough(t *testing.T) {
	f := newFake()
	c := mustNew(t, Config{Next: f})
	for range 2 {
		ask(t, c, auth("alice", "wonderland"))
		ask(t, c, setpass("bob", "new"))
	}
	if f.Count(framing.OpAuth) != 2 || f.Count(framing.OpSetPass) != 2 {
		t.Errorf("helper saw %d auths and %d setpasses, want every request", f.Count(framing.OpAuth), f.Count(framing.OpSetPass))
	}
	if st := c.Stats(); st != (Stats{}) {
		t.Errorf("stats %+v, want zero", st)
	}
}

func TestExpiry(t *testing.T) {
	f := newFake()
	clock := newClock()
	c := mustNew(t, Config{Next: f, TTL: time.Minute, NegativeTTL: 10 * time.Second, Now: clock.Now})
	yes, no := auth("alice", "wonderland"), auth("alice", "wrong")
	ask(t, c, yes)
	ask(t, c, no)
	for _, step := range []struct {
		advance   time.Duration
		req       framing.Request
		reachesIt bool
	}{
		{9 * time.Second, no, false},   // 9s: within 10s
		{time.Second, no, true},        // 10s: expired, asked again and kept from now
		{0, yes, false},                // 10s: within 1m
		{49 * time.Second, yes, false}, // 59s
		{time.Second, yes, true},       // 60s: expired
		{0, yes, false},                // kept again
		{0, no, true},                  // 60s: expired at 20s, kept again
		{9 * time.Second, no, false},   // 69s
		{time.Second, no, true},        // 70s: expired
	} {
		clock.Advance(step.advance)
		before := f.Count(framing.OpAuth)
		if r := ask(t, c, step.req); r.OK != (step.req == yes) {
			t.Fatalf("%+v: wrong answer", step)
		}
		if reached := f.Count(framing.OpAuth) > before; reached != step.reachesIt {
			t.Fatalf("after %v more: reached the helper %v, want %v", step.advance, reached, step.reachesIt)
		}
	}
	if st := c.Stats(); st.Entries != 2 || st.Evictions != 0 {
		t.Errorf("stats %+v, want 2 entries (expired ones replaced), no evictions", st)
	}
	checkIndex(t, c)
}

func TestLRUBound(t *testing.T) {
	f := newFake()
	c := mustNew(t, Config{Next: f, TTL: time.Minute, NegativeTTL: time.Minute, MaxEntries: 2})
	a, b, d := isuser("alice"), isuser("bob"), isuser("dave")
	ask(t, c, a)
	ask(t, c, b)
	ask(t, c, a) // a is now the most recently used
	ask(t, c, d) // evicts b
	if st := c.Stats(); st.Entries != 2 || st.Evictions != 1 {
		t.Fatalf("stats %+v, want 2 entries, 1 eviction", st)
	}
	for _, tc := range []struct {
		req       framing.Request
		reachesIt bool
	}{
		{a, false},
		{d, false},
		{b, true}, // evicted; asking again evicts a, the least recently used
		{d, false},
		{a, true},
	} {
		before := f.Count(framing.OpIsUser)
		ask(t, c, tc.req)
		if reached := f.Count(framing.OpIsUser) > before; reached != tc.reachesIt {
			t.Fatalf("isuser %s reached the helper %v, want %v", tc.req.User, reached, tc.reachesIt)
		}
	}
	if st := c.Stats(); st.Entries != 2 || st.Evictions != 3 {
		t.Errorf("stats %+v, want 2 entries, 3 evictions", st)
	}
	checkIndex(t, c)
}

func TestErrorsNotCached(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"timeout", result.ErrTimeout},
		{"helper exited", result.ErrHelperExited},
		{"protocol", result.ErrProtocol},
		{"context", context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			f.Fail(tc.err)
			c := mustNew(t, Config{Next: f, TTL: time.Minute, NegativeTTL: time.Minute})
			req := auth("alice", "wonderland")
			if r := ask(t, c, req); !errors.Is(r.Err, tc.err) || r.OK {
				t.Fatalf("first ask: %+v, want the error passed on", r)
			}
			if st := c.Stats(); st.Entries != 0 {
				t.Fatalf("stats %+v: the error was kept", st)
			}
			if r := ask(t, c, req); r.Err != nil || !r.OK {
				t.Fatalf("second ask: %+v, want yes", r)
			}
			ask(t, c, req)
			if got := f.Count(framing.OpAuth); got != 2 {
				t.Errorf("helper asked %d times, want 2 (error, then yes, then the cache)", got)
			}
			checkIndex(t, c)
		})
	}
}

func TestRefusalPassedBack(t *testing.T) {
	for _, req := range []framing.Request{auth("alice", "wonderland"), isuser("bob"), setpass("bob", "x")} {
		t.Run(req.Op.String(), func(t *testing.T) {
			f := newFake()
			refusal := errors.Join(result.ErrOverloaded)
			f.Refuse(refusal)
			c := mustNew(t, Config{Next: f, TTL: time.Minute, NegativeTTL: time.Minute})
			yes, err := c.Do(context.Background(), req)
			if err != refusal || yes {
				t.Fatalf("Do: %v, %v; want no and the refusal itself", yes, err)
			}
			if st := c.Stats(); st.Entries != 0 {
				t.Errorf("stats %+v: something was kept", st)
			}
			checkIndex(t, c)
		})
	}
}

// TestOtherRequestsPassThrough: what is neither cached nor a change goes to
// Next as it is, refusal and all.
func TestOtherRequestsPassThrough(t *testing.T) {
	f := newFake()
	c := mustNew(t, Config{Next: f, TTL: time.Minute})
	bad := framing.Request{Op: 0, User: "alice", Server: "example.com"}
	ask(t, c, bad)
	ask(t, c, bad)
	if got := f.Count(0); got != 2 {
		t.Errorf("helper saw %d, want 2", got)
	}
	if st := c.Stats(); st != (Stats{}) {
		t.Errorf("stats %+v, want zero", st)
	}
}
