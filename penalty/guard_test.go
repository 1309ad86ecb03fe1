package penalty

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/authpool/authpool/framing"
	"github.com/authpool/authpool/result"
)

// Every test that waits runs in a synctest bubble: the clock is fake and
// moves only when every goroutine of the test is blocked, so 30 s of
// guessing take no real time and every duration below is exact.

const latency = 10 * time.Millisecond // the fake helper's answer time

// guess runs attempts until ctx ends, each with a fresh wrong password,
// and returns how many were answered. An attempt refused at once (its
// wait is longer than ctx allows) is retried a little later, as a client
// would: a loop that never blocks would stop the fake clock.
func guess(ctx context.Context, g *Guard, user, client string, id int) (answers int) {
	for n := 0; ctx.Err() == nil; n++ {
		if _, err := g.Do(ctx, auth(user, fmt.Sprintf("guess-%d-%d", id, n), client)); err != nil {
			select {
			case <-time.After(100 * time.Millisecond):
			case <-ctx.Done():
			}
			continue
		}
		answers++
	}
	return answers
}

// every runs f every period until ctx ends.
func every(ctx context.Context, period time.Duration, f func()) {
	for ctx.Err() == nil {
		f()
		select {
		case <-time.After(period):
		case <-ctx.Done():
		}
	}
}

// siege has 16 connections guess for 30 s of the test's clock from
// client, the i-th one user(i)'s password, while each of alongside runs
// with the same context; it returns, when all have ended, how many
// guesses were answered. The helper is asked more often than that: see
// TestCleanAttemptsAskedTogether.
func siege(g *Guard, client string, user func(i int) string, alongside ...func(ctx context.Context)) (answers int) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i := range 16 {
		wg.Go(func() {
			n := guess(ctx, g, user(i), client, i)
			mu.Lock()
			answers += n
			mu.Unlock()
		})
	}
	for _, f := range alongside {
		wg.Go(func() { f(ctx) })
	}
	wg.Wait()
	return answers
}

func alice(int) string { return "alice" }

// together is 16 requests asked of a Guard at once, and when each was
// answered, counted from when they were asked, in the order answered.
type together struct {
	wg       sync.WaitGroup
	mu       sync.Mutex
	answered []time.Duration
}

// askTogether asks g req(i) for i in 0..15, each in a goroutine of its
// own; a request that fails is a test error.
func askTogether(t *testing.T, g *Guard, req func(i int) framing.Request) *together {
	a := new(together)
	start := time.Now()
	for i := range 16 {
		a.wg.Go(func() {
			if _, err := g.Do(context.Background(), req(i)); err != nil {
				t.Errorf("request %d: %v", i, err)
			}
			a.mu.Lock()
			a.answered = append(a.answered, time.Since(start))
			a.mu.Unlock()
		})
	}
	return a
}

// count is how many have been answered so far.
func (a *together) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.answered)
}

// wait waits for every answer and returns their times.
func (a *together) wait() []time.Duration {
	a.wg.Wait()
	return a.answered
}

// Done when: one address guessing one user's password over 16 connections
// for 30 s gets at most 10 answers; meanwhile the right password from
// another address waits at most UserMax, and another user is not delayed.
func TestOneAddressSixteenConnections(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHelper(latency)
		g := newGuard(t, Config{Next: h})
		var mu sync.Mutex
		var aliceWorst, bobWorst time.Duration
		guesses := siege(g, "192.0.2.66", alice, func(ctx context.Context) {
			every(ctx, 3*time.Second, func() {
				ok, d, err := timed(t, g, auth("alice", "wonderland", "198.51.100.7"))
				if !ok || err != nil {
					t.Errorf("the real alice: %v, %v", ok, err)
				}
				mu.Lock()
				aliceWorst = max(aliceWorst, d)
				mu.Unlock()
			})
		}, func(ctx context.Context) {
			every(ctx, time.Second, func() {
				ok, d, err := timed(t, g, auth("bob", "builder", "203.0.113.9"))
				if !ok || err != nil {
					t.Errorf("bob: %v, %v", ok, err)
				}
				mu.Lock()
				bobWorst = max(bobWorst, d)
				mu.Unlock()
			})
		})

		t.Logf("30 s: %d answers to the guesser; the real alice waited at most %v, bob %v; %+v",
			guesses, aliceWorst, bobWorst, g.Stats())
		if guesses > 10 || guesses < 3 {
			t.Errorf("the guesser got %d answers in 30 s over 16 connections, want 3 to 10", guesses)
		}
		if aliceWorst > DefaultUserMax+latency {
			t.Errorf("the real alice waited %v, want at most UserMax %v", aliceWorst, DefaultUserMax)
		}
		if bobWorst != latency {
			t.Errorf("bob waited %v, want no delay (the helper's %v)", bobWorst, latency)
		}
		if s := g.Stats(); s.Lines != 0 || s.InLine != 0 {
			t.Errorf("turnstiles left behind: %+v", s)
		}
	})
}

// One address guessing many users at once is one line once it has
// failed: one answer per address penalty, not one per user, from the
// first guesses (16 users, none penalised yet) on.
func TestOneAddressManyUsers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHelper(latency)
		g := newGuard(t, Config{Next: h})
		n := siege(g, "192.0.2.66", func(i int) string { return fmt.Sprint("user", i) })
		t.Logf("30 s: %d answers to a guesser of 16 users", n)
		if n > 10 {
			t.Errorf("%d answers in 30 s to one address guessing 16 users, want at most 10", n)
		}
	})
}

// Done when (generic protocol): with no address, 16 connections guessing
// one user's password for 30 s get at most 20 answers, and other users are
// not delayed.
func TestNoAddressSixteenConnections(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHelper(latency)
		g := newGuard(t, Config{Next: h})
		var bobWorst time.Duration
		guesses := siege(g, "", alice, func(ctx context.Context) {
			every(ctx, time.Second, func() {
				ok, d, err := timed(t, g, auth("bob", "builder", ""))
				if !ok || err != nil {
					t.Errorf("bob: %v, %v", ok, err)
				}
				bobWorst = max(bobWorst, d)
			})
		})
		t.Logf("30 s: %d answers to the guesser; bob waited at most %v", guesses, bobWorst)
		if guesses > 20 || guesses < 5 {
			t.Errorf("the guesser got %d answers in 30 s, want 5 to 20", guesses)
		}
		if bobWorst != latency {
			t.Errorf("bob waited %v, want no delay", bobWorst)
		}
	})
}

// With no address, the user's key alone applies, capped at UserMax
// however many failures it has.
func TestNoAddressUserKeyCapped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGuard(t, Config{Next: newHelper(0)})
		for i := range 10 {
			_, d, _ := timed(t, g, auth("alice", fmt.Sprint("wrong", i), ""))
			if d > DefaultUserMax {
				t.Errorf("attempt %d waited %v, want at most UserMax", i, d)
			}
		}
		if _, d, _ := timed(t, g, auth("alice", "wonderland", "")); d != DefaultUserMax {
			t.Errorf("right password after 10 failures waited %v, want UserMax", d)
		}
	})
}

// Done when: the same wrong password retried 20 times is never delayed
// beyond Base, and does not raise the penalty; a new wrong password does.
func TestSameWrongPasswordRetried(t *testing.T) {
	for _, client := range []string{"192.0.2.8", ""} {
		t.Run("client="+client, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				g := newGuard(t, Config{Next: newHelper(0)})
				for i := range 20 {
					ok, d, err := timed(t, g, auth("alice", "stale", client))
					if ok || err != nil || d > DefaultBase {
						t.Errorf("retry %d: %v, %v after %v, want no after at most Base", i, ok, err, d)
					}
				}
				if s := g.Stats(); s.Failures != 20 || s.Repeats != 19 {
					t.Errorf("stats %+v, want 20 failures, 19 repeats", s)
				}
				timed(t, g, auth("alice", "another", client))
				if _, d, _ := timed(t, g, auth("alice", "third", client)); client != "" && d != 2*DefaultBase {
					t.Errorf("after a second distinct password the wait is %v, want 2×Base", d)
				}
			})
		})
	}
}

// Done when: an exempt address is never delayed; its failures still count
// against the user (capped at UserMax elsewhere) and fail2ban is not told
// its address.
func TestExemptNeverDelayed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var log bytes.Buffer
		g := newGuard(t, Config{
			Next: newHelper(0),
			Exempt: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8:f::/48"),
				netip.MustParsePrefix("::ffff:172.16.0.0/108")},
			Logger: slog.New(slog.NewTextHandler(&log, nil)),
		})
		for i := range 20 {
			for _, c := range []string{"10.1.2.3", "2001:db8:f:1::5", "::ffff:10.9.9.9", "172.16.0.1", "::ffff:172.31.1.1"} {
				if _, d, _ := timed(t, g, auth("alice", fmt.Sprint("wrong", i), c)); d != 0 {
					t.Fatalf("exempt %s waited %v", c, d)
				}
			}
		}
		if _, d, _ := timed(t, g, auth("alice", "wonderland", "198.51.100.7")); d == 0 || d > DefaultUserMax {
			t.Errorf("the user elsewhere waited %v, want some, at most UserMax", d)
		}
		if strings.Contains(log.String(), failFromMsg) || !strings.Contains(log.String(), "exempt=true") {
			t.Errorf("exempt failures logged for fail2ban:\n%s", log.String())
		}
	})
}

// Done when: --penalty-base 0 (Off) restores today's behaviour: Next sees
// every request unchanged, at once, and nothing is kept or logged.
func TestOffPassesThrough(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var log bytes.Buffer
		h := newHelper(0)
		g := newGuard(t, Config{Next: h, Off: true, Logger: slog.New(slog.NewTextHandler(&log, nil))})
		for i := range 30 {
			req := auth("alice", fmt.Sprint("wrong", i), "192.0.2.1")
			if ok, d, err := timed(t, g, req); ok || err != nil || d != 0 {
				t.Fatalf("attempt %d: %v, %v after %v", i, ok, err, d)
			}
			if got := h.answers[len(h.answers)-1].req; got != req {
				t.Fatalf("Next saw %v, want %v", got, req)
			}
		}
		if s := g.Stats(); s != (Stats{Keys: 0}) || log.Len() != 0 {
			t.Errorf("an Off guard kept state: %+v, log %q", s, log.String())
		}
	})
}

// The user's penalty is capped only where the address is clean: an address
// that has failed itself meets the user's full penalty, so a guesser's
// second address buys it nothing.
func TestDirtyAddressMeetsFullUserPenalty(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGuard(t, Config{Next: newHelper(0)})
		for i := range 6 { // six addresses, one guess each: alice's key at 6 failures
			timed(t, g, auth("alice", fmt.Sprint("wrong", i), fmt.Sprintf("192.0.2.%d", i+1)))
		}
		// A clean address waits at most UserMax...
		if _, d, _ := timed(t, g, auth("carol", "singer", "198.51.100.1")); d != 0 {
			t.Errorf("carol waited %v", d)
		}
		if _, d, _ := timed(t, g, auth("alice", "wonderland", "198.51.100.2")); d != DefaultUserMax {
			t.Errorf("alice at a clean address waited %v, want UserMax", d)
		}
		// ...one of the guesser's addresses the full penalty, counted from
		// the user's last failure.
		start := time.Now()
		timed(t, g, auth("alice", "wrong-again", "192.0.2.1"))
		_, d, _ := timed(t, g, auth("alice", "and-again", "192.0.2.2"))
		if want := DefaultMax; d != want {
			t.Errorf("a dirty address waited %v (after %v), want Max %v", d, time.Since(start)-d, want)
		}
	})
}

// A successful login clears its (user, address) pair, and nothing else.
func TestSuccessClearsPair(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGuard(t, Config{Next: newHelper(0)})
		timed(t, g, auth("alice", "wrong1", "192.0.2.1"))
		timed(t, g, auth("alice", "wrong2", "192.0.2.1"))
		if ok, d, _ := timed(t, g, auth("alice", "wonderland", "192.0.2.1")); !ok || d != 2*DefaultBase {
			t.Errorf("login after two failures: %v after %v, want yes after 2×Base", ok, d)
		}
		p, _, _ := client(netip.MustParseAddr("192.0.2.1"), DefaultIPv6Bits)
		ctx := context.Background()
		pair, _ := g.cfg.Store.Get(ctx, g.keys.pair("alice", "example.com", p))
		addr, _ := g.cfg.Store.Get(ctx, g.keys.addr(p))
		user, _ := g.cfg.Store.Get(ctx, g.keys.user("alice", "example.com"))
		if pair.Failures != 0 || addr.Failures != 2 || user.Failures != 2 {
			t.Errorf("after the login: pair %+v, address %+v, user %+v; want the pair alone cleared", pair, addr, user)
		}
		if s := g.Stats(); s.Cleared != 1 {
			t.Errorf("stats %+v", s)
		}
	})
}

// Attempts on a clean key are asked at once, side by side; when one of
// them fails, the others' answers wait their turn: 16 simultaneous first
// guesses give one answer, then one per penalty, as 16 guesses in turn
// would.
func TestCleanAttemptsAskedTogether(t *testing.T) {
	for _, client := range []string{"192.0.2.1", ""} {
		t.Run("client="+client, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHelper(latency)
				g := newGuard(t, Config{Next: h, MaxWait: time.Hour})
				a := askTogether(t, g, func(i int) framing.Request { return auth("alice", fmt.Sprint("w", i), client) })
				time.Sleep(latency)
				synctest.Wait()
				if n := h.count("alice"); n != 16 {
					t.Errorf("%d asked after one helper time, want all 16 at once", n)
				}
				if n := a.count(); n != 1 {
					t.Errorf("%d answered after one helper time, want 1", n)
				}
				if s := g.Stats(); s.Held != 15 || s.InLine != 15 {
					t.Errorf("stats %+v, want 15 held in line", s)
				}
				answered := a.wait()
				// Then one each penalty: 2, 4, 8, then Max (15 s), or, with no
				// address, the user's key capped at UserMax (2 s).
				want := []time.Duration{latency}
				for i := 1; i < 16; i++ {
					d := min(DefaultBase<<(i-1), DefaultMax)
					if client == "" {
						d = DefaultUserMax
					}
					want = append(want, want[i-1]+d)
				}
				if fmt.Sprint(answered) != fmt.Sprint(want) {
					t.Errorf("answered at %v, want %v", answered, want)
				}
				if s := g.Stats(); s.Lines != 0 || s.InLine != 0 || s.Failures != 16 {
					t.Errorf("after: %+v, want 16 failures and no line left", s)
				}
			})
		})
	}
}

// Clean attempts that all succeed wait for nobody: one user logging in
// from several devices at once, or a load test of one account.
func TestCleanSuccessesSideBySide(t *testing.T) {
	for _, client := range []string{"192.0.2.1", ""} {
		t.Run("client="+client, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				g := newGuard(t, Config{Next: newHelper(latency)})
				var wg sync.WaitGroup
				start := time.Now()
				for range 16 {
					wg.Go(func() {
						if ok, err := g.Do(context.Background(), auth("alice", "wonderland", client)); !ok || err != nil {
							t.Errorf("alice: %v, %v", ok, err)
						}
					})
				}
				wg.Wait()
				if d := time.Since(start); d != latency {
					t.Errorf("16 logins at once took %v, want one helper time %v", d, latency)
				}
				if s := g.Stats(); s.Held != 0 || s.Delayed != 0 || s.Lines != 0 {
					t.Errorf("stats %+v", s)
				}
			})
		})
	}
}

// One address's failure holds the answers of its other users' attempts
// asked meanwhile: a guesser trying 16 users at once gets one answer, then
// one per address penalty.
func TestAddressFailureHoldsOtherUsers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGuard(t, Config{Next: newHelper(latency), MaxWait: time.Hour})
		a := askTogether(t, g, func(i int) framing.Request { return auth(fmt.Sprint("user", i), "guess", "192.0.2.1") })
		time.Sleep(latency)
		synctest.Wait()
		if n := a.count(); n != 1 {
			t.Errorf("%d answered after one helper time, want 1", n)
		}
		answered := a.wait()
		if got, want := answered[1]-answered[0], DefaultBase; got != want {
			t.Errorf("second answer %v after the first, want the address's penalty %v", got, want)
		}
	})
}

// A held attempt that cannot wait its turn gets no answer, and its failure
// still counts: a guesser gains nothing by hanging up.
func TestHeldGivesUpButCounts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGuard(t, Config{Next: newHelper(latency)})
		errs := make(chan error, 2)
		for i := range 2 {
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second) // less than Base
				defer cancel()
				_, err := g.Do(ctx, auth("alice", fmt.Sprint("w", i), "192.0.2.1"))
				errs <- err
			}()
		}
		var failed int
		for range 2 {
			if err := <-errs; err != nil {
				failed++
				if !errors.Is(err, ErrPenalised) {
					t.Errorf("held attempt: %v, want ErrPenalised", err)
				}
			}
		}
		if s := g.Stats(); failed != 1 || s.Failures != 2 || s.Held != 1 || s.Withheld != 1 || s.Lines != 0 {
			t.Errorf("%d refused, stats %+v; want one answer, two failures counted", failed, s)
		}
	})
}

// laggingStore reads one key's state as it is when asked and delivers it
// late, as a far or busy shared store would.
type laggingStore struct {
	*MemoryStore
	key Key
	lag time.Duration
}

func (s *laggingStore) Get(ctx context.Context, k Key) (State, error) {
	st, err := s.MemoryStore.Get(ctx, k)
	if k == s.key {
		time.Sleep(s.lag)
	}
	return st, err
}

// An attempt whose read of the store was overtaken by another attempt's
// failure, claimed, recorded and released meanwhile, is still held: it
// watches its lines before it reads, so the failure counts against it.
func TestLateReadStillHeld(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mem := newMemoryStore(t)
		store := &laggingStore{MemoryStore: mem, lag: time.Second}
		g := newGuard(t, Config{Next: newHelper(latency), Store: store})
		store.key = g.keys.user("alice", "example.com")
		first := make(chan time.Duration, 1)
		start := time.Now()
		go func() {
			g.Do(context.Background(), auth("alice", "w1", "192.0.2.1")) // asked at 1 s, recorded at 1 s + latency
			first <- time.Since(start)
		}()
		// The second reads just before the first one's failure is in the
		// store, and has its read only after the first is done.
		time.Sleep(time.Second + latency/2)
		_, d, err := timed(t, g, auth("alice", "w2", "192.0.2.1"))
		if err != nil {
			t.Fatal(err)
		}
		f := <-first
		if gap := time.Second + latency/2 + d - f; gap < DefaultBase {
			t.Errorf("the second answer came %v after the first, want at least Base %v; %+v", gap, DefaultBase, g.Stats())
		}
	})
}

// slowFailStore takes its time to record a failure, as a far or busy
// shared store would.
type slowFailStore struct {
	*MemoryStore
	lag time.Duration
}

func (s slowFailStore) Fail(ctx context.Context, k Key, m Mark) (bool, error) {
	time.Sleep(s.lag)
	return s.MemoryStore.Fail(ctx, k, m)
}

// An attempt that comes while another one's failure on its address is
// being recorded waits for the record and meets the address's penalty,
// though the store did not have it when the attempt read it.
func TestArrivingDuringRecordWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mem := newMemoryStore(t)
		h := newHelper(latency)
		g := newGuard(t, Config{Next: h, Store: slowFailStore{mem, time.Second}})
		start := time.Now()
		go g.Do(context.Background(), auth("alice", "w1", "192.0.2.1")) // answered at latency, recorded by 3 s
		time.Sleep(2 * latency)
		if _, err := g.Do(context.Background(), auth("bob", "w2", "192.0.2.1")); err != nil {
			t.Fatal(err)
		}
		for _, a := range h.answers {
			if a.req.User == "bob" && a.at.Sub(start) < DefaultBase {
				t.Errorf("bob's guess from the same address asked at %v, want after the address's penalty %v; %+v",
					a.at.Sub(start), DefaultBase, g.Stats())
			}
		}
	})
}

// A line is bounded: attempts beyond MaxWaiting fail at once with ErrBusy,
// and the line empties when its attempts end.
func TestLineBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGuard(t, Config{Next: newHelper(time.Second), MaxWaiting: 2})
		timed(t, g, auth("alice", "w0", "192.0.2.1")) // a penalty: attempts now line up
		var wg sync.WaitGroup
		for i := range 3 {
			wg.Go(func() { g.Do(context.Background(), auth("alice", fmt.Sprint("w", i+1), "192.0.2.1")) })
		}
		synctest.Wait()
		_, err := g.Do(context.Background(), auth("alice", "w", "192.0.2.1"))
		if !errors.Is(err, ErrBusy) || !errors.Is(err, result.ErrOverloaded) {
			t.Errorf("fourth attempt: %v, want ErrBusy", err)
		}
		// Another key is not affected.
		if ok, _, err := timed(t, g, auth("bob", "builder", "192.0.2.2")); !ok || err != nil {
			t.Errorf("bob: %v, %v", ok, err)
		}
		wg.Wait()
		if s := g.Stats(); s.Lines != 0 || s.GaveUp != 1 {
			t.Errorf("stats %+v", s)
		}
	})
}

// Every wait respects the request's context: a deadline shorter than the
// penalty ends the attempt at once, before Next; a context that ends in
// line or during the wait ends it then. No turnstile is left behind.
func TestWaitsRespectContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHelper(0)
		g := newGuard(t, Config{Next: h})
		for i := range 3 {
			timed(t, g, auth("alice", fmt.Sprint("w", i), "192.0.2.1")) // penalty now 8 s
		}
		asked := len(h.answers)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		start := time.Now()
		_, err := g.Do(ctx, auth("alice", "x", "192.0.2.1"))
		cancel()
		if !errors.Is(err, ErrPenalised) || !errors.Is(err, result.ErrTimeout) || time.Since(start) != 0 {
			t.Errorf("short deadline: %v after %v, want ErrPenalised at once", err, time.Since(start))
		}

		// Two attempts without deadline, the second in line; cancel both.
		ctx, cancel = context.WithCancel(context.Background())
		errs := make(chan error, 2)
		for range 2 {
			go func() {
				_, err := g.Do(ctx, auth("alice", "y", "192.0.2.1"))
				errs <- err
			}()
		}
		synctest.Wait()
		if s := g.Stats(); s.InLine != 2 {
			t.Fatalf("stats %+v, want two in line", s)
		}
		cancel()
		for range 2 {
			if err := <-errs; !errors.Is(err, context.Canceled) {
				t.Errorf("cancelled attempt: %v", err)
			}
		}
		if s := g.Stats(); s.Lines != 0 || s.GaveUp != 3 || len(h.answers) != asked {
			t.Errorf("after: %+v, %d answers; want no line, 3 given up, Next not asked", s, len(h.answers)-asked)
		}
	})
}

// With no deadline of its own, an attempt waits at most MaxWait, in line
// and for its penalty together, and gives up as a timeout as soon as it
// knows it cannot make it.
func TestMaxWaitWithoutDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHelper(0)
		g := newGuard(t, Config{Next: h, MaxWait: 20 * time.Second})
		for i := range 4 {
			timed(t, g, auth("alice", fmt.Sprint("w", i), "192.0.2.1")) // penalty now Max
		}
		asked := len(h.answers)
		errs := make(chan error, 3)
		start := time.Now()
		for i := range 3 {
			go func() {
				_, err := g.Do(context.Background(), auth("alice", fmt.Sprint("x", i), "192.0.2.1"))
				errs <- err
			}()
		}
		var timeouts int
		for range 3 {
			if err := <-errs; errors.Is(err, ErrPenalised) {
				timeouts++
			} else if err != nil {
				t.Errorf("attempt: %v", err)
			}
		}
		// The first is answered after Max; the others would have to wait
		// another Max, past MaxWait, and know it then.
		if timeouts != 2 || len(h.answers) != asked+1 || time.Since(start) != DefaultMax {
			t.Errorf("%d timeouts, %d answers after %v; want 2 and 1 after Max", timeouts, len(h.answers)-asked, time.Since(start))
		}
	})
}

// Only password checks are guarded: isuser, setpass, tryregister and
// removeuser pass at once from a penalised address; removeuser3 (remove if
// the password matches) is a password check and waits like auth.
func TestOnlyPasswordChecksGuarded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGuard(t, Config{Next: newHelper(0)})
		a := netip.MustParseAddr("192.0.2.1")
		for i := range 4 {
			timed(t, g, auth("alice", fmt.Sprint("w", i), a.String()))
		}
		for _, op := range []framing.Op{framing.OpIsUser, framing.OpSetPass, framing.OpTryRegister, framing.OpRemoveUser} {
			req := framing.Request{Op: op, User: "alice", Server: "example.com", Client: a}
			if op.HasPassword() {
				req.Password = "new"
			}
			if _, d, _ := timed(t, g, req); d != 0 {
				t.Errorf("%v waited %v", op, d)
			}
		}
		rm3 := framing.Request{Op: framing.OpRemoveUser3, User: "alice", Server: "example.com", Password: "w9", Client: a}
		if _, d, _ := timed(t, g, rm3); d != DefaultMax {
			t.Errorf("removeuser3 waited %v, want Max", d)
		}
		if s := g.Stats(); s.Failures != 5 {
			t.Errorf("stats %+v, want removeuser3's failure counted", s)
		}
	})
}

// IPv6 addresses are penalised by their /64, IPv4-mapped ones as IPv4;
// zones are ignored.
func TestAddressPrefixes(t *testing.T) {
	tests := []struct {
		first, second string
		shared        bool
	}{
		{"2001:db8:1:2::1", "2001:db8:1:2:ffff::9", true},
		{"2001:db8:1:2::1", "2001:db8:1:3::1", false},
		{"192.0.2.1", "::ffff:192.0.2.1", true},
		{"192.0.2.1", "192.0.2.2", false},
		{"fe80::1%eth0", "fe80::1%x", true},
	}
	for _, tt := range tests {
		t.Run(tt.first+"_"+tt.second, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				g := newGuard(t, Config{Next: newHelper(0)})
				timed(t, g, auth("alice", "w1", tt.first))
				_, d, _ := timed(t, g, auth("bob", "w1", tt.second))
				if shared := d > 0; shared != tt.shared {
					t.Errorf("second address waited %v; shared = %v, want %v", d, shared, tt.shared)
				}
			})
		})
	}
}

// brokenStore fails every call.
type brokenStore struct{}

var errBroken = errors.New("store down (key 0123)")

func (brokenStore) Get(context.Context, Key) (State, error)       { return State{}, errBroken }
func (brokenStore) Fail(context.Context, Key, Mark) (bool, error) { return false, errBroken }
func (brokenStore) Clear(context.Context, Key) error              { return errBroken }

// A store error never becomes a login failure: the attempt goes on without
// penalty, the error is counted, and logged once in a while.
func TestStoreErrorIsNoPenalty(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var log bytes.Buffer
		g := newGuard(t, Config{Next: newHelper(0), Store: brokenStore{}, Logger: slog.New(slog.NewTextHandler(&log, nil))})
		for i := range 5 {
			if ok, d, err := timed(t, g, auth("alice", fmt.Sprint("w", i), "192.0.2.1")); ok || err != nil || d != 0 {
				t.Errorf("failure %d: %v, %v after %v", i, ok, err, d)
			}
		}
		if ok, d, err := timed(t, g, auth("alice", "wonderland", "192.0.2.1")); !ok || err != nil || d != 0 {
			t.Errorf("right password: %v, %v after %v", ok, err, d)
		}
		s := g.Stats()
		if s.StoreErrors != 5*6+3+1 || s.Keys != -1 {
			t.Errorf("stats %+v, want 34 store errors", s)
		}
		if n := strings.Count(log.String(), "penalty store failed"); n != 1 {
			t.Errorf("%d store error lines, want 1:\n%s", n, log.String())
		}
		if n := strings.Count(log.String(), failFromMsg); n != 5 {
			t.Errorf("%d failure lines, want 5", n)
		}
	})
}

// ctxStore is a MemoryStore that, like a networked store, fails once its
// context has ended.
type ctxStore struct{ *MemoryStore }

func (s ctxStore) Fail(ctx context.Context, k Key, m Mark) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	return s.MemoryStore.Fail(ctx, k, m)
}

// cancelling is a Next whose caller goes away as the answer arrives.
type cancelling struct{ cancel context.CancelFunc }

func (c cancelling) Do(context.Context, framing.Request) (bool, error) {
	c.cancel()
	return false, nil
}

// A failure is recorded even when the caller goes away the moment it has
// its answer: the guesser must not learn a password for free by hanging up.
func TestFailureRecordedAfterCallerLeaves(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mem := newMemoryStore(t)
		ctx, cancel := context.WithCancel(context.Background())
		g := newGuard(t, Config{Next: cancelling{cancel}, Store: ctxStore{mem}})
		g.Do(ctx, auth("alice", "guess", "192.0.2.1"))
		if s := g.Stats(); mem.Len() != 3 || s.StoreErrors != 0 {
			t.Errorf("after a guess whose caller left: %d keys, %+v; want the failure recorded", mem.Len(), s)
		}
	})
}

// Guards that share a store and a secret share penalties (several daemons
// with one Redis); under different secrets, the same user and address are
// different keys.
func TestSharedStoreNeedsSharedSecret(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store, err := NewMemoryStore(MemoryConfig{})
		if err != nil {
			t.Fatal(err)
		}
		secret := bytes.Repeat([]byte{7}, 32)
		a := newGuard(t, Config{Next: newHelper(0), Store: store, Secret: secret})
		b := newGuard(t, Config{Next: newHelper(0), Store: store, Secret: secret})
		c := newGuard(t, Config{Next: newHelper(0), Store: store})
		timed(t, a, auth("alice", "w1", "192.0.2.1"))
		if _, d, _ := timed(t, b, auth("alice", "w2", "192.0.2.1")); d != DefaultBase {
			t.Errorf("second daemon waited %v, want Base", d)
		}
		if _, d, _ := timed(t, c, auth("alice", "w3", "192.0.2.1")); d != 0 {
			t.Errorf("a daemon with another secret waited %v", d)
		}
	})
}

func TestConfigDefaults(t *testing.T) {
	g := newGuard(t, Config{Next: newHelper(0)})
	c := g.cfg
	if c.Base != 2*time.Second || c.Max != 15*time.Second || c.UserMax != 2*time.Second || c.Window != 10*time.Minute ||
		c.MaxWait != 30*time.Second || c.MaxWaiting != DefaultMaxWaiting || c.IPv6Bits != 64 || len(c.Secret) != 32 {
		t.Errorf("defaults: %+v", c)
	}
	if s, ok := c.Store.(*MemoryStore); !ok || s.max != 250_000 || s.window != 10*time.Minute {
		t.Errorf("default store: %#v", c.Store)
	}
}

func TestConfigRefused(t *testing.T) {
	next := newHelper(0)
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no next", Config{}},
		{"negative base", Config{Next: next, Base: -1}},
		{"negative wait", Config{Next: next, MaxWait: -1}},
		{"base above max", Config{Next: next, Base: 20 * time.Second}},
		{"user max above max", Config{Next: next, UserMax: time.Minute}},
		{"window below max", Config{Next: next, Window: 5 * time.Second}},
		{"negative keys", Config{Next: next, MaxKeys: -1}},
		{"short secret", Config{Next: next, Secret: []byte("short")}},
		{"bad prefix", Config{Next: next, Exempt: []netip.Prefix{{}}}},
		{"ipv6 bits", Config{Next: next, IPv6Bits: 129}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.cfg); !errors.Is(err, errConfig) {
				t.Errorf("New = %v, want a configuration error", err)
			}
		})
	}
}

// remaining doubles from Base to the limit and never overflows.
func TestPenaltySchedule(t *testing.T) {
	g := newGuard(t, Config{Next: newHelper(0)})
	s := time.Second
	for _, tt := range []struct {
		failures int
		since    time.Duration
		limit    time.Duration
		want     time.Duration
	}{
		{0, 0, 15 * s, 0},
		{1, 0, 15 * s, 2 * s},
		{2, 0, 15 * s, 4 * s},
		{3, s, 15 * s, 7 * s},
		{4, 0, 15 * s, 15 * s},
		{5, 0, 2 * s, 2 * s},
		{1 << 16, 0, 15 * s, 15 * s},
		{1 << 16, 0, 1 << 62, 1 << 62},
		{2, 5 * s, 15 * s, 0},
	} {
		if got := g.remaining(State{Failures: tt.failures, Since: tt.since}, tt.limit); got != tt.want {
			t.Errorf("remaining(%d failures, %v ago, limit %v) = %v, want %v", tt.failures, tt.since, tt.limit, got, tt.want)
		}
	}
}
