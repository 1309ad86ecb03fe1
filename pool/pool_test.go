package pool

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authpool/authpool/framing"
	"github.com/authpool/authpool/internal/testutil"
	"github.com/authpool/authpool/ptyproc"
)

// newPool starts a pool of fake helpers and closes it when the test ends.
func newPool(t *testing.T, fake string, cfg Config) *Pool {
	t.Helper()
	cfg.Command = []string{os.Args[0]}
	cfg.Env = append(cfg.Env, fakeEnv+"="+fake, fakeProtoEnv+"="+cfg.Protocol.String())
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return p
}

// bounded gives each request in a test a deadline, so no test can hang.
func bounded(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func auth(user, pass string) framing.Request {
	return framing.Request{Op: framing.OpAuth, User: user, Server: "example.com", Password: pass}
}

type variant struct {
	proto framing.Protocol
	tr    ptyproc.Transport
	mode  Mode
}

func (v variant) String() string { return fmt.Sprintf("%s/%s/%s", v.proto, v.tr, v.mode) }

func variants() []variant {
	var vs []variant
	for _, proto := range []framing.Protocol{framing.Generic, framing.Ejabberd} {
		for _, tr := range []ptyproc.Transport{ptyproc.PTY, ptyproc.Pipe} {
			for _, mode := range []Mode{Blocking, NonBlocking} {
				vs = append(vs, variant{proto, tr, mode})
			}
		}
	}
	return vs
}

func (v variant) config() Config {
	return Config{Protocol: v.proto, Transport: v.tr, Mode: v.mode, Processes: 2, Timeout: 10 * time.Second}
}

func TestAnswers(t *testing.T) {
	allBytes := make([]byte, 0, 256)
	for b := 1; b < 256; b++ {
		if b != '\n' && b != '\r' {
			allBytes = append(allBytes, byte(b))
		}
	}
	weird := []string{
		"a:b:c",
		"\x03\x04\x13\x1a\x7f\x1c\x15\x17",
		strings.Repeat("0123456789", 600),
		string(allBytes),
		"\x04",
	}
	for _, v := range variants() {
		t.Run(v.String(), func(t *testing.T) {
			p := newPool(t, "db", v.config())
			ctx := bounded(t)
			tests := []struct {
				req  framing.Request
				want bool
			}{
				{auth("alice", "wonderland"), true},
				{auth("alice", "wrong"), false},
				{auth("carol", "a:b:c"), true},
				{auth("nobody", "wonderland"), false},
				{auth("alice", ""), false},
				{framing.Request{Op: framing.OpIsUser, User: "alice", Server: "example.com"}, true},
				{framing.Request{Op: framing.OpIsUser, User: "zed", Server: "example.com"}, false},
				{auth("split", "x"), true},
				{auth("noise", "x"), true},
			}
			if v.proto == framing.Generic {
				tests = append(tests, struct {
					req  framing.Request
					want bool
				}{auth("crlf", "x"), true})
			}
			for _, tt := range tests {
				got, err := p.Do(ctx, tt.req)
				if err != nil || got != tt.want {
					t.Errorf("Do(%v) = %v, %v; want %v", tt.req, got, err, tt.want)
				}
			}
			if st := p.Stats(); st.Timeouts+st.ProtocolErrors+st.Exits != 0 {
				t.Errorf("helpers replaced during plain requests: %+v", st)
			}
		})
	}
	// Bytes reach the helper unchanged: it accepts only the exact password.
	for _, v := range variants() {
		for i, pw := range weird {
			t.Run(fmt.Sprintf("bytes/%s/%d", v, i), func(t *testing.T) {
				sum := sha256.Sum256([]byte(pw))
				cfg := v.config()
				cfg.Env = []string{fakeSHAEnv + "=" + hex.EncodeToString(sum[:])}
				p := newPool(t, "db", cfg)
				for _, try := range []struct {
					pw   string
					want bool
				}{{pw, true}, {pw + "x", false}} {
					got, err := p.Do(bounded(t), auth("echo", try.pw))
					if err != nil || got != try.want {
						t.Errorf("echo %d bytes: %v, %v; want %v", len(try.pw), got, err, try.want)
					}
				}
			})
		}
	}
}

func TestBadRequestsNeverReachHelpers(t *testing.T) {
	p := newPool(t, "db", Config{})
	ctx := bounded(t)
	for _, req := range []framing.Request{
		{},
		auth("al:ice", "x"),
		auth("alice", "x\ny"),
		auth("", "x"),
		{Op: framing.OpTryRegister, User: "a", Server: "b", Password: "c"}, // not in the generic protocol
		{Op: framing.OpSetPass, User: "a", Server: "b"},
	} {
		if _, err := p.Do(ctx, req); !errors.Is(err, ErrBadRequest) {
			t.Errorf("Do(%v) = %v, want ErrBadRequest", req, err)
		}
	}
	if got, err := p.Do(ctx, auth("alice", "wonderland")); !got || err != nil {
		t.Fatalf("good request after bad ones: %v, %v", got, err)
	}
}

// TestFailureFailsOnlyItsRequest: whatever one helper does wrong, only the
// request it was answering fails, and the next request is answered.
func TestFailureFailsOnlyItsRequest(t *testing.T) {
	tests := []struct {
		user    string
		wantErr error
	}{
		{"hang", ErrTimeout},
		{"late", ErrTimeout},
		{"crash", ErrHelperExited},
		{"kill9", ErrHelperExited},
		{"garbage", ErrProtocol},
		{"double1", ErrProtocol},
	}
	for _, mode := range []Mode{Blocking, NonBlocking} {
		for _, tt := range tests {
			t.Run(mode.String()+"/"+tt.user, func(t *testing.T) {
				// Generous enough for a fake helper to start on a loaded machine.
				p := newPool(t, "db", Config{Mode: mode, Timeout: time.Second})
				ctx := bounded(t)
				if got, err := p.Do(ctx, auth(tt.user, "x")); !errors.Is(err, tt.wantErr) || got {
					t.Fatalf("Do(%s) = %v, %v; want false, %v", tt.user, got, err, tt.wantErr)
				}
				// Nothing the failed helper sends later may count as this
				// answer: a late "1" would make it true.
				for range 3 {
					if got, err := p.Do(ctx, auth("alice", "wrong")); got || err != nil {
						t.Fatalf("request after %s: %v, %v; want false, nil", tt.user, got, err)
					}
					time.Sleep(150 * time.Millisecond) // let a late answer arrive while idle
				}
				if got, err := p.Do(ctx, auth("alice", "wonderland")); !got || err != nil {
					t.Fatalf("good request after %s: %v, %v", tt.user, got, err)
				}
			})
		}
	}
}

// TestExtraAnswerWhileIdle: a second answer that arrives while no request is
// outstanding is never delivered; the helper is replaced instead.
func TestExtraAnswerWhileIdle(t *testing.T) {
	for _, tr := range []ptyproc.Transport{ptyproc.PTY, ptyproc.Pipe} {
		t.Run(tr.String(), func(t *testing.T) {
			p := newPool(t, "db", Config{Transport: tr})
			ctx := bounded(t)
			if got, err := p.Do(ctx, auth("double", "x")); got || err != nil {
				t.Fatalf("double: %v, %v; want its first answer, false", got, err)
			}
			pid := p.Stats().Helpers[0].PID
			time.Sleep(100 * time.Millisecond) // the extra "1" arrives now
			if got, err := p.Do(ctx, auth("alice", "wrong")); got || err != nil {
				t.Fatalf("after an extra answer: %v, %v; want false, nil", got, err)
			}
			st := p.Stats()
			if st.ProtocolErrors != 1 || st.Helpers[0].PID == pid {
				t.Fatalf("helper with unsolicited output not replaced: %+v", st)
			}
		})
	}
}

// TestSpontaneousOutputIsNeverAnAnswer: output no request asked for (here a
// "1" each helper prints at start) is caught before the next request is
// sent. (Output that arrives after a request went out cannot be told from
// its answer by any line protocol.)
func TestSpontaneousOutputIsNeverAnAnswer(t *testing.T) {
	p := newPool(t, "banner", Config{Processes: 2})
	waitReady(t, p)
	time.Sleep(100 * time.Millisecond) // let the banners arrive
	if got, err := p.Do(bounded(t), auth("alice", "wrong")); got || !errors.Is(err, ErrProtocol) {
		t.Fatalf("Do = %v, %v; want false, ErrProtocol", got, err)
	}
}

// waitReady waits, bounded, until every helper of p is ready.
func waitReady(t *testing.T, p *Pool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.WaitReady(ctx); err != nil {
		t.Fatalf("WaitReady: %v; helpers %+v", err, p.Stats().Helpers)
	}
}

// warm asks until every helper has answered once. A caller that meets a
// helper still starting up waits only Timeout, and on a loaded machine
// may get ErrTimeout for it, by design: a test of something else must not
// count that.
func warm(t *testing.T, ctx context.Context, p *Pool) {
	t.Helper()
	for {
		helpers := p.Stats().Helpers
		cold := len(helpers) == 0
		for _, h := range helpers {
			cold = cold || h.Served == 0
		}
		if !cold {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("helpers never all answered: %+v", helpers)
		}
		// As many at once as there are helpers, so that each gets one.
		var wg sync.WaitGroup
		for range len(helpers) {
			wg.Go(func() { p.Do(ctx, auth("alice", "wonderland")) })
		}
		wg.Wait()
	}
}

// fakeTimer is one backoff timer a slot asked for: the test fires it.
type fakeTimer struct {
	d    time.Duration
	fire chan time.Time
}

// fakeTimers returns a Config.newTimer that hands every timer to the test
// through the channel, so a test checks the backoff schedule without
// waiting it out.
func fakeTimers() (<-chan fakeTimer, func(time.Duration) (<-chan time.Time, func() bool)) {
	timers := make(chan fakeTimer, 64)
	return timers, func(d time.Duration) (<-chan time.Time, func() bool) {
		ft := fakeTimer{d, make(chan time.Time, 1)}
		timers <- ft
		return ft.fire, func() bool { return true }
	}
}

// nextTimer waits, bounded, for a slot to ask for a timer.
func nextTimer(t *testing.T, timers <-chan fakeTimer) fakeTimer {
	t.Helper()
	select {
	case ft := <-timers:
		return ft
	case <-time.After(20 * time.Second):
		t.Fatal("no slot backed off")
		return fakeTimer{}
	}
}

func TestCrashLoopFailsFast(t *testing.T) {
	for _, mode := range []Mode{Blocking, NonBlocking} {
		t.Run(mode.String(), func(t *testing.T) {
			timers, newTimer := fakeTimers()
			p := newPool(t, "crashloop", Config{Mode: mode, Processes: 2, Timeout: time.Minute,
				RestartDelay: 100 * time.Millisecond, MaxRestartDelay: time.Second, newTimer: newTimer})
			ctx := bounded(t)
			// Each slot restarts at once twice, then waits on a timer
			// the test holds.
			held := []fakeTimer{nextTimer(t, timers), nextTimer(t, timers)}
			for _, ft := range held {
				if ft.d < 80*time.Millisecond || ft.d > 120*time.Millisecond {
					t.Fatalf("first pause %v, want RestartDelay ±20%%", ft.d)
				}
			}
			if n := p.Stats().Spawns; n != 2*(quickRestarts+1) {
				t.Fatalf("%d starts before the first pauses, want %d", n, 2*(quickRestarts+1))
			}
			eventually(t, "both slots to back off", func() bool {
				for _, h := range p.Stats().Helpers {
					if h.State != "backoff" {
						return false
					}
				}
				return true
			})
			// With a one-minute Timeout, only failing fast gives
			// ErrUnavailable here rather than a timeout.
			for i := range 2 {
				if _, err := p.Do(ctx, auth("alice", "wonderland")); !errors.Is(err, ErrUnavailable) {
					t.Fatalf("Do %d = %v, want ErrUnavailable", i, err)
				}
			}
			// Backoff, not a spin: one start per pause, each pause twice
			// the last, up to MaxRestartDelay. The other slot still
			// waits on its first timer, so every timer now is this one's.
			ft := held[0]
			for _, want := range []time.Duration{200, 400, 800, 1000, 1000} {
				want *= time.Millisecond
				before := p.Stats().Spawns
				ft.fire <- time.Now()
				ft = nextTimer(t, timers)
				if n := p.Stats().Spawns - before; n != 1 {
					t.Fatalf("%d starts in one pause", n)
				}
				if ft.d < want*8/10 || ft.d > want*12/10 {
					t.Fatalf("pause %v, want %v ±20%%", ft.d, want)
				}
			}
		})
	}
}

// TestCallerGivesUpHelperKept: a caller whose context ends mid-exchange
// returns at once, and the helper's answer is read and thrown away rather
// than the helper being killed.
func TestCallerGivesUpHelperKept(t *testing.T) {
	p := newPool(t, "db", Config{})
	ctx := bounded(t)
	if _, err := p.Do(ctx, auth("alice", "wonderland")); err != nil {
		t.Fatal(err)
	}
	pid := p.Stats().Helpers[0].PID
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := p.Do(short, auth("slow", "x")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Do with a short deadline = %v", err)
	}
	if got, err := p.Do(ctx, auth("alice", "wrong")); got || err != nil {
		t.Fatalf("next request got %v, %v; the slow answer was true", got, err)
	}
	st := p.Stats()
	if st.Helpers[0].PID != pid || st.Timeouts != 0 {
		t.Fatalf("helper replaced after its caller gave up: %+v", st)
	}
}

func TestOverloaded(t *testing.T) {
	// Timeout: long enough that no request of the flood ends before the
	// last is sent.
	p := newPool(t, "db", Config{Mode: NonBlocking, QueueSize: 2, Timeout: 2 * time.Second})
	ctx := bounded(t)
	waitReady(t, p)
	var results []<-chan Result
	for range 10 {
		results = append(results, async(ctx, p, auth("hang", "x")))
	}
	overloaded := 0
	for _, res := range results {
		select {
		case r := <-res:
			switch {
			case errors.Is(r.Err, ErrOverloaded):
				overloaded++
			case !errors.Is(r.Err, ErrTimeout):
				t.Errorf("a request of the flood: %+v", r)
			}
		case <-ctx.Done():
			t.Fatal("a request of the flood never finished")
		}
	}
	// One may be with the worker already, two in the queue.
	if overloaded < 7 {
		t.Fatalf("%d of 10 refused, want at least 7", overloaded)
	}
	if got, err := p.Do(ctx, auth("alice", "wonderland")); !got || err != nil {
		t.Fatalf("after the flood: %v, %v", got, err)
	}
}

func TestConcurrentMixed(t *testing.T) {
	for _, mode := range []Mode{Blocking, NonBlocking} {
		t.Run(mode.String(), func(t *testing.T) {
			p := newPool(t, "db", Config{Mode: mode, Processes: 4, QueueSize: 1000})
			ctx := bounded(t)
			var wg sync.WaitGroup
			errs := make(chan error, 600)
			for i := range 600 {
				wg.Go(func() {
					var req framing.Request
					var want bool
					switch i % 4 {
					case 0:
						req, want = auth("alice", "wonderland"), true
					case 1:
						req, want = auth("alice", fmt.Sprint("wrong", i)), false
					case 2:
						req, want = auth("carol", "a:b:c"), true
					case 3:
						req, want = framing.Request{Op: framing.OpIsUser, User: fmt.Sprint("u", i), Server: "example.com"}, false
					}
					got, err := p.Do(ctx, req)
					if err != nil || got != want {
						errs <- fmt.Errorf("request %d (%v): %v, %v; want %v", i, req, got, err, want)
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			busy := 0
			for _, h := range p.Stats().Helpers {
				if h.Served > 0 {
					busy++
				}
			}
			if busy < 2 {
				t.Errorf("only %d of 4 helpers served", busy)
			}
		})
	}
}

// waitTaken waits, bounded, until the one request submitted is taken: in
// flight, neither queued nor waiting for a helper.
// async asks p in a goroutine, for a test that acts while a request is in
// flight; the test owns the goroutine and ends it by taking the Result
// (ctx bounds it).
func async(ctx context.Context, p *Pool, req framing.Request) <-chan Result {
	res := make(chan Result, 1)
	go func() {
		ok, err := p.Do(ctx, req)
		res <- Result{OK: ok, Err: err}
	}()
	return res
}

func waitTaken(t *testing.T, p *Pool) {
	t.Helper()
	eventually(t, "the request to reach a helper", func() bool {
		st := p.Stats()
		return st.InFlight == 1 && st.Queued == 0 && st.Waiting == 0
	})
}

func TestShutdownLetsRequestsFinish(t *testing.T) {
	for _, mode := range []Mode{Blocking, NonBlocking} {
		t.Run(mode.String(), func(t *testing.T) {
			p := newPool(t, "db", Config{Mode: mode})
			ctx := bounded(t)
			res := async(ctx, p, auth("slow", "x"))
			waitTaken(t, p)
			if err := p.Shutdown(ctx); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			select {
			case r := <-res:
				if !r.OK || r.Err != nil {
					t.Fatalf("in-flight request: %+v", r)
				}
			default:
				t.Fatal("Shutdown returned before the in-flight request finished")
			}
			if _, err := p.Do(ctx, auth("alice", "wonderland")); !errors.Is(err, ErrClosed) {
				t.Fatalf("Do after Shutdown = %v, want ErrClosed", err)
			}
			for _, h := range p.Stats().Helpers {
				if h.PID != 0 || h.State != StateStopped {
					t.Fatalf("helper left after Shutdown: %+v", h)
				}
			}
		})
	}
}

func TestCloseFailsInflight(t *testing.T) {
	p := newPool(t, "db", Config{Timeout: time.Minute})
	ctx := bounded(t)
	res := async(ctx, p, auth("hang", "x"))
	waitTaken(t, p)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-res:
		if !errors.Is(r.Err, ErrClosed) {
			t.Fatalf("in-flight request after Close: %+v", r)
		}
	case <-ctx.Done():
		t.Fatal("Close left a request hanging")
	}
}

// TestCloseCutsGraceShort: Close kills helpers that are being replaced and
// ignore SIGTERM, instead of waiting out their grace period.
func TestCloseCutsGraceShort(t *testing.T) {
	p := newPool(t, "db", Config{
		Timeout:   100 * time.Millisecond,
		StopGrace: time.Hour,
		Env:       []string{fakeTermEnv + "=1"},
	})
	ctx := bounded(t)
	if _, err := p.Do(ctx, auth("hang", "x")); !errors.Is(err, ErrTimeout) {
		t.Fatalf("hang: %v", err)
	}
	closed := make(chan error, 1)
	go func() { closed <- p.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-ctx.Done():
		t.Fatal("Close waited for the grace period of a helper being replaced")
	}
}

// TestHelperStderrRedacted: a helper that prints the password it was sent
// to stderr does not get it into the log.
func TestHelperStderrRedacted(t *testing.T) {
	var logs syncBuffer
	p := newPool(t, "db", Config{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	ctx := bounded(t)
	for _, pw := range []string{"hunter2", "second-pass"} {
		if _, err := p.Do(ctx, auth("leaky", pw)); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(); err != nil { // waits for stderr to be logged
		t.Fatal(err)
	}
	out := logs.String()
	if !strings.Contains(out, "checking leaky with password (redacted)") {
		t.Fatalf("stderr line not logged, or not redacted:\n%s", out)
	}
	for _, pw := range []string{"hunter2", "second-pass"} {
		if strings.Contains(out, pw) {
			t.Errorf("password %q in the log:\n%s", pw, out)
		}
	}
}

type syncBuffer = testutil.SyncBuffer

// TestRecycling: helpers are replaced after MaxRequests answers or MaxAge,
// one at a time, and no request fails meanwhile.
func TestRecycling(t *testing.T) {
	for _, mode := range []Mode{Blocking, NonBlocking} {
		for _, tt := range []struct {
			name string
			cfg  Config
		}{
			{"requests", Config{MaxRequests: 7}},
			{"age", Config{MaxAge: 100 * time.Millisecond}},
		} {
			t.Run(mode.String()+"/"+tt.name, func(t *testing.T) {
				cfg := tt.cfg
				cfg.Mode, cfg.Processes, cfg.QueueSize = mode, 3, 100
				p := newPool(t, "db", cfg)
				ctx := bounded(t)
				waitReady(t, p)

				// Watch readiness while requests run: recycling one at a
				// time never leaves fewer than two of three helpers up.
				stop := make(chan struct{})
				minReady := make(chan int, 1)
				go func() {
					lowest := 3
					for {
						select {
						case <-stop:
							minReady <- lowest
							return
						default:
						}
						ready := 0
						for _, h := range p.Stats().Helpers {
							if h.State == StateReady && h.PID != 0 {
								ready++
							}
						}
						lowest = min(lowest, ready)
						time.Sleep(time.Millisecond)
					}
				}()
				var wg sync.WaitGroup
				errs := make(chan error, 600)
				for w := range 6 {
					wg.Go(func() {
						for i := range 100 {
							if got, err := p.Do(ctx, auth("alice", "wonderland")); !got || err != nil {
								errs <- fmt.Errorf("worker %d request %d: %v, %v", w, i, got, err)
							}
							if tt.name == "age" {
								time.Sleep(time.Millisecond)
							}
						}
					})
				}
				wg.Wait()
				close(stop)
				close(errs)
				for err := range errs {
					t.Error(err)
				}
				if low := <-minReady; low < 2 {
					t.Errorf("only %d of 3 helpers up at one point: more than one recycled at once", low)
				}
				// One at a time, helpers may serve past their limit while
				// another is replaced; once the load stops, every one that
				// is due gets its turn.
				deadline := time.Now().Add(20 * time.Second)
				for {
					st := p.Stats()
					done := st.Recycles >= 3
					for _, h := range st.Helpers {
						if h.PID == 0 || (cfg.MaxRequests > 0 && h.Served >= int64(cfg.MaxRequests)) {
							done = false
						}
					}
					if done {
						if st.Timeouts+st.Exits+st.ProtocolErrors != 0 {
							t.Errorf("helpers failed while recycling: %+v", st)
						}
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("helpers not recycled: %+v", st)
					}
					time.Sleep(5 * time.Millisecond)
				}
			})
		}
	}
}

// TestReconfigureUnderLoad: a reload that changes the helpers' environment
// and shrinks the pool replaces every helper, one at a time, while requests
// keep coming, and none of them fails.
func TestReconfigureUnderLoad(t *testing.T) {
	for _, mode := range []Mode{Blocking, NonBlocking} {
		t.Run(mode.String(), func(t *testing.T) {
			base := Config{Mode: mode, Processes: 3, QueueSize: 200, Env: []string{"POOL_TEST_GEN=1"}}
			p := newPool(t, "db", base)
			ctx := bounded(t)
			waitReady(t, p)
			load := startLoad(t, ctx, p, 8)
			next := base
			next.Processes = 2
			next.Command = p.conf().Command
			next.Env = []string{"POOL_TEST_GEN=2", fakeEnv + "=db", fakeProtoEnv + "=generic"}
			if err := p.Reconfigure(ctx, next); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(20 * time.Second)
			for {
				// Every helper answers as the new settings say.
				st := p.Stats()
				ok := len(st.Helpers) == 2 && st.Recycles >= 3 // two replaced, one removed
				for range 4 {
					if got, err := p.Do(ctx, auth("gen", "2")); !got || err != nil {
						ok = false
					}
				}
				if ok {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("helpers not replaced: %+v", p.Stats())
				}
				time.Sleep(10 * time.Millisecond)
			}
			served, failed := load.stop()
			if failed > 0 || served == 0 {
				t.Fatalf("%d requests failed, %d served during the reload", failed, served)
			}
			if st := p.Stats(); st.Recycles < 3 {
				t.Errorf("%d helpers recycled, want at least 3: %+v", st.Recycles, st)
			}
			bad := next
			bad.Mode = 1 - mode
			if err := p.Reconfigure(ctx, bad); err == nil {
				t.Error("a mode change was accepted")
			}
		})
	}
}

// TestRecyclingIgnoresProbes: the pool probes a replacement helper before
// it serves; that answer is not one of its MaxRequests, or with
// MaxRequests 1 every replacement would be recycled as soon as it was
// probed, forever.
func TestRecyclingIgnoresProbes(t *testing.T) {
	p := newPool(t, "db", Config{Processes: 1, MaxRequests: 1})
	ctx := bounded(t)
	for i := range 5 {
		waitReady(t, p)
		if got, err := p.Do(ctx, auth("alice", "wonderland")); !got || err != nil {
			t.Fatalf("request %d: %v, %v", i, got, err)
		}
	}
	waitReady(t, p)
	before := p.Stats().Recycles
	// Idle now: nothing is due. (With probes counted, a recycle followed
	// every probe, each a few milliseconds apart.)
	time.Sleep(500 * time.Millisecond)
	if after := p.Stats().Recycles; after != before || before > 5 {
		t.Errorf("recycles: %d after 5 requests, %d after idling; want at most 5 and no more", before, after)
	}
}

// load keeps workers asking p for alice's right password until stopped,
// counting what was served and what failed: the load under which a
// reconfiguration must fail no request.
type load struct {
	stopCh         chan struct{}
	wg             sync.WaitGroup
	mu             sync.Mutex
	served, failed int
}

func startLoad(t *testing.T, ctx context.Context, p *Pool, workers int) *load {
	warm(t, ctx, p)
	l := &load{stopCh: make(chan struct{})}
	for range workers {
		l.wg.Go(func() {
			for {
				select {
				case <-l.stopCh:
					return
				default:
				}
				got, err := p.Do(ctx, auth("alice", "wonderland"))
				l.mu.Lock()
				if got && err == nil {
					l.served++
				} else {
					l.failed++
					t.Errorf("request under load: %v, %v", got, err)
				}
				l.mu.Unlock()
			}
		})
	}
	return l
}

// stop ends the load and returns what was served and what failed.
func (l *load) stop() (served, failed int) {
	close(l.stopCh)
	l.wg.Wait()
	return l.served, l.failed
}
