package pool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/authpool/authpool/ptyproc"
)

// endObserver reports every helper that leaves service, with why.
type endObserver struct {
	nopObserver
	ended chan string
}

func (o endObserver) HelperEnded(reason string) {
	select {
	case o.ended <- reason:
	default:
	}
}

// TestTimeoutIsTheCallersWait (issue 12): a new helper may take
// Timeout+StartTimeout to start and give its first answer before it is
// replaced, but its first caller waits Timeout, as every caller does; the
// late answer is read and thrown away, never delivered to the next
// request. The helper is "gated": it reads nothing until the test lets it,
// so a caller that got its error before the gate opened cannot have been
// kept waiting for the start-up. The test's own deadline (20s) only stops
// a broken pool from hanging the test: it is 20 times Timeout.
func TestTimeoutIsTheCallersWait(t *testing.T) {
	const timeout = time.Second
	for _, tt := range []struct {
		name     string
		mode     Mode
		start    time.Duration // StartTimeout
		replaced bool          // the helper misses even Timeout+StartTimeout
	}{
		{"blocking/late answer thrown away", Blocking, time.Hour, false},
		{"nonblocking/late answer thrown away", NonBlocking, time.Hour, false},
		{"blocking/too late: replaced", Blocking, 200 * time.Millisecond, true},
		{"nonblocking/too late: replaced", NonBlocking, 200 * time.Millisecond, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			gate := t.TempDir()
			obs := endObserver{ended: make(chan string, 8)}
			p := newPool(t, "gated", Config{
				Mode:         tt.mode,
				Timeout:      timeout,
				StartTimeout: tt.start,
				Env:          []string{fakeGateEnv + "=" + gate},
				Observer:     obs,
			})
			ctx := bounded(t)
			// The gate is shut: this answer ("1") can only come late.
			yes, err := p.Do(ctx, auth("alice", "wonderland"))
			if yes || !errors.Is(err, ErrTimeout) {
				t.Fatalf("first request to a helper still starting = %v, %v; want ErrTimeout after Timeout", yes, err)
			}
			pid := p.Stats().Helpers[0].PID
			if tt.replaced {
				select {
				case why := <-obs.ended:
					if why != string(RetireTimeout) {
						t.Fatalf("helper ended for %q, want %q", why, RetireTimeout)
					}
				case <-ctx.Done():
					t.Fatal("a helper that missed Timeout+StartTimeout was never replaced")
				}
			}
			if err := os.WriteFile(filepath.Join(gate, "open"), nil, 0o600); err != nil {
				t.Fatal(err)
			}
			ask := func(pw string) (bool, error) {
				for {
					yes, err := p.Do(ctx, auth("alice", pw))
					// The replacement is a new helper too: on a loaded
					// machine it may start slower than Timeout, and its
					// caller then gets ErrTimeout as well (never a yes).
					if !tt.replaced || yes || !errors.Is(err, ErrTimeout) || ctx.Err() != nil {
						return yes, err
					}
				}
			}
			// The old helper's late "1", if it were delivered, would answer
			// this wrong password.
			if yes, err := ask("wrong"); yes || err != nil {
				t.Fatalf("next request = %v, %v; want false: the late answer must be thrown away", yes, err)
			}
			if yes, err := ask("wonderland"); !yes || err != nil {
				t.Fatalf("request after that = %v, %v; want true", yes, err)
			}
			st := p.Stats()
			if tt.replaced {
				if st.Timeouts < 1 || st.Helpers[0].PID == pid {
					t.Fatalf("helper that missed its start allowance not replaced once: %+v", st)
				}
				return
			}
			if st.Timeouts != 0 || st.Helpers[0].PID != pid {
				t.Fatalf("a slow start was treated as a hang: %+v", st)
			}
			select {
			case why := <-obs.ended:
				t.Fatalf("helper ended (%s) though it answered within its start allowance", why)
			default:
			}
		})
	}
}

// TestAnswerGraceThenConfirm: a yes watched for AnswerGrace and then
// confirmed (a young helper) is delivered: the grace's own read deadline
// does not cut the confirmation short.
func TestAnswerGraceThenConfirm(t *testing.T) {
	for _, mode := range []Mode{Blocking, NonBlocking} {
		t.Run(mode.String(), func(t *testing.T) {
			p := newPool(t, "db", Config{Mode: mode, AnswerGrace: 20 * time.Millisecond})
			for i := range 3 {
				if yes, err := p.Do(bounded(t), auth("alice", "wonderland")); !yes || err != nil {
					t.Fatalf("request %d: %v, %v; want true", i, yes, err)
				}
			}
			if st := p.Stats(); st.Timeouts != 0 || st.Spawns != 1 {
				t.Fatalf("helper replaced: %+v", st)
			}
		})
	}
}

// stderrSignal is a slog handler that reports each helper stderr line.
type stderrSignal struct {
	slog.Handler
	lines chan string
}

func (s stderrSignal) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == ptyproc.StderrMessage {
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "line" {
				select {
				case s.lines <- a.Value.String():
				default:
				}
			}
			return true
		})
	}
	return nil
}

func (s stderrSignal) Enabled(context.Context, slog.Level) bool { return true }
func (s stderrSignal) WithAttrs([]slog.Attr) slog.Handler       { return s }

// TestCallerCancelsMidExchange: a caller whose context is cancelled (not
// past a deadline) while its helper answers gets context.Canceled without
// waiting for the answer, which is thrown away: the next request gets its
// own answer from the same helper. In Blocking mode the pool's watch
// (watch.go) interrupts the exchange; in NonBlocking mode the caller stops
// waiting for its worker.
func TestCallerCancelsMidExchange(t *testing.T) {
	for _, mode := range []Mode{Blocking, NonBlocking} {
		t.Run(mode.String(), func(t *testing.T) {
			sig := stderrSignal{Handler: slog.DiscardHandler, lines: make(chan string, 1)}
			p := newPool(t, "db", Config{Mode: mode, Logger: slog.New(sig)})
			ctx := bounded(t)
			if _, err := p.Do(ctx, auth("alice", "wrong")); err != nil {
				t.Fatal(err)
			}
			pid := p.Stats().Helpers[0].PID
			cctx, cancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() {
				yes, err := p.Do(cctx, auth("announce", "x"))
				if yes {
					err = errors.New("answered yes: Do waited for the answer")
				}
				done <- err
			}()
			select {
			case <-sig.lines: // the helper has the request
			case <-ctx.Done():
				t.Fatal("the request never reached the helper")
			}
			cancel()
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("cancelled mid-exchange: %v, want context.Canceled", err)
				}
			case <-ctx.Done():
				t.Fatal("Do did not return after its context was cancelled")
			}
			// The helper's late "1" would answer this wrong password.
			if yes, err := p.Do(ctx, auth("alice", "wrong")); yes || err != nil {
				t.Fatalf("next request = %v, %v; want false", yes, err)
			}
			if st := p.Stats(); st.Helpers[0].PID != pid || st.Timeouts+st.ProtocolErrors != 0 {
				t.Fatalf("helper replaced after its caller gave up: %+v", st)
			}
		})
	}
}

// TestQueueTimeoutBoundsTheWait: a caller whose context has no deadline
// waits for a busy helper at most QueueTimeout, and then gets ErrTimeout;
// one whose context has a deadline waits until that deadline. Each caller
// in turn: the line's one timer is armed again for each.
func TestQueueTimeoutBoundsTheWait(t *testing.T) {
	for _, mode := range []Mode{Blocking, NonBlocking} {
		t.Run(mode.String(), func(t *testing.T) {
			sig := stderrSignal{Handler: slog.DiscardHandler, lines: make(chan string, 1)}
			p := newPool(t, "db", Config{Mode: mode, QueueTimeout: 50 * time.Millisecond, Logger: slog.New(sig)})
			ctx := bounded(t)
			busy := make(chan error, 1)
			go func() {
				_, err := p.Do(ctx, auth("announce", "x")) // holds the only helper a second
				busy <- err
			}()
			select {
			case <-sig.lines:
			case <-ctx.Done():
				t.Fatal("the first request never reached the helper")
			}
			for i := range 3 {
				if _, err := p.Do(context.Background(), auth("alice", "wonderland")); !errors.Is(err, ErrTimeout) {
					t.Fatalf("waiter %d without a deadline: %v, want ErrTimeout after QueueTimeout", i, err)
				}
			}
			short, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
			defer cancel()
			if _, err := p.Do(short, auth("alice", "wonderland")); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("waiter with a deadline: %v, want its context's error", err)
			}
			if err := <-busy; err != nil {
				t.Fatalf("the busy request: %v", err)
			}
			if st := p.Stats(); st.Waiting != 0 {
				t.Fatalf("%d still waiting", st.Waiting)
			}
		})
	}
}

// TestWatchRunsOnlyWhileWatching: the pool's watch on callers (watch.go)
// starts with an exchange whose caller can give up, stops once none is in
// flight, so that an idle pool has no timer ticking, and starts again for
// the next, which it still interrupts when its caller gives up.
func TestWatchRunsOnlyWhileWatching(t *testing.T) {
	sig := stderrSignal{Handler: slog.DiscardHandler, lines: make(chan string, 1)}
	p := newPool(t, "db", Config{Logger: slog.New(sig)})
	ctx := bounded(t)
	idle := func(what string) {
		t.Helper()
		for p.watching.Load() {
			select {
			case <-ctx.Done():
				t.Fatalf("%s: the watch still runs with no exchange in flight", what)
			case <-time.After(watchEvery):
			}
		}
	}
	if _, err := p.Do(context.Background(), auth("alice", "wrong")); err != nil {
		t.Fatal(err)
	}
	if p.watching.Load() {
		t.Fatal("a caller that can never give up started the watch")
	}
	if _, err := p.Do(ctx, auth("alice", "wrong")); err != nil {
		t.Fatal(err)
	}
	idle("after one request")
	for round := range 2 {
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			_, err := p.Do(cctx, auth("announce", "x"))
			done <- err
		}()
		select {
		case <-sig.lines:
		case <-ctx.Done():
			t.Fatal("the request never reached the helper")
		}
		if !p.watching.Load() {
			t.Fatalf("round %d: no watch while an exchange with a caller that can give up is in flight", round)
		}
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("round %d: %v, want context.Canceled", round, err)
			}
		case <-ctx.Done():
			t.Fatalf("round %d: Do did not return after its context was cancelled", round)
		}
		// Its answer is drained in the background; then nothing is watched.
		idle(fmt.Sprintf("round %d", round))
	}
}
