package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/authpool/authpool/client"
	"github.com/authpool/authpool/framing"
	"github.com/authpool/authpool/result"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeTarget answers from a table: a user's answer is its password being
// "right", except for the users it is told to get wrong or fail.
type fakeTarget struct {
	calls   atomic.Int64
	workers sync.Map // worker ids seen
	wrongOn string   // this user gets the opposite answer
	failOn  string   // this user fails with ErrTimeout
	closed  atomic.Bool
}

func (f *fakeTarget) Do(ctx context.Context, worker int, req framing.Request) (bool, error) {
	f.calls.Add(1)
	f.workers.Store(worker, true)
	if req.User == f.failOn {
		return false, result.ErrTimeout
	}
	yes := req.Op == framing.OpIsUser || req.Password == "right"
	if req.User == f.wrongOn {
		yes = !yes
	}
	return yes, nil
}

func (f *fakeTarget) Close() error { f.closed.Store(true); return nil }

func workload() *Workload {
	r := func(user, pw string) framing.Request {
		return framing.Request{Op: framing.OpAuth, User: user, Server: "x", Password: pw}
	}
	return &Workload{Source: "test", Items: []Item{
		{r("a", "right"), ExpectYes},
		{r("b", "wrong"), ExpectNo},
		{r("c", "right"), ExpectYes},
		{framing.Request{Op: framing.OpIsUser, User: "d", Server: "x"}, Unchecked},
	}}
}

func TestRun(t *testing.T) {
	tests := []struct {
		name         string
		target       *fakeTarget
		rate         float64
		requests     int64
		wantWrong    int64
		wantAccepts  int64
		wantErrors   int64
		wantErrKind  string
		wantChecked  int64
		wantAnswered int64
	}{
		{name: "all right", target: &fakeTarget{}, requests: 400, wantChecked: 300, wantAnswered: 400},
		{name: "false accepts", target: &fakeTarget{wrongOn: "b"}, requests: 400, wantWrong: 100, wantAccepts: 100, wantChecked: 300, wantAnswered: 400},
		{name: "false rejects", target: &fakeTarget{wrongOn: "c"}, requests: 400, wantWrong: 100, wantChecked: 300, wantAnswered: 400},
		{name: "errors are not wrong answers", target: &fakeTarget{failOn: "a"}, requests: 400, wantErrors: 100, wantErrKind: "timeout", wantChecked: 200, wantAnswered: 300},
		{name: "open loop", target: &fakeTarget{wrongOn: "b"}, rate: 20000, requests: 200, wantWrong: 50, wantAccepts: 50, wantChecked: 150, wantAnswered: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var progress []Progress
			var mu sync.Mutex
			rep, err := Run(context.Background(), Config{
				Target:        tt.target,
				Workload:      workload(),
				Concurrency:   4,
				Rate:          tt.rate,
				Requests:      tt.requests,
				ProgressEvery: time.Hour, // only the final call
				Progress: func(p Progress) {
					mu.Lock()
					progress = append(progress, p)
					mu.Unlock()
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := tt.target.calls.Load(); got != tt.requests {
				t.Errorf("%d calls, want %d", got, tt.requests)
			}
			if rep.Requests != tt.requests || rep.Yes+rep.No != tt.wantAnswered {
				t.Errorf("requests %d, answered %d; want %d, %d", rep.Requests, rep.Yes+rep.No, tt.requests, tt.wantAnswered)
			}
			if rep.Wrong != tt.wantWrong || rep.FalseAccepts != tt.wantAccepts || rep.FalseRejects != tt.wantWrong-tt.wantAccepts {
				t.Errorf("wrong %d (accepts %d, rejects %d), want %d (%d accepts)", rep.Wrong, rep.FalseAccepts, rep.FalseRejects, tt.wantWrong, tt.wantAccepts)
			}
			if tt.wantWrong > 0 && len(rep.WrongExamples) == 0 {
				t.Error("no examples of wrong answers")
			}
			if rep.Checked != tt.wantChecked {
				t.Errorf("checked %d, want %d", rep.Checked, tt.wantChecked)
			}
			if rep.Errors != tt.wantErrors || (tt.wantErrKind != "" && rep.ErrorKinds[tt.wantErrKind] != tt.wantErrors) {
				t.Errorf("errors %d %v, want %d %s", rep.Errors, rep.ErrorKinds, tt.wantErrors, tt.wantErrKind)
			}
			if rep.Latency.Max <= 0 || rep.Latency.P50 > rep.Latency.P99 || rep.Latency.P99 > rep.Latency.Max {
				t.Errorf("latency summary out of order: %+v", rep.Latency)
			}
			seen := 0
			tt.target.workers.Range(func(_, _ any) bool { seen++; return true })
			if seen < 1 || seen > 4 {
				t.Errorf("%d distinct worker ids, want 1 to 4", seen)
			}
			mu.Lock()
			defer mu.Unlock()
			if n := len(progress); n == 0 || !progress[n-1].Final || progress[n-1].Done != tt.requests {
				t.Errorf("last progress %+v, want a final one with %d done", progress, tt.requests)
			}
		})
	}
}

func TestRunWarmupAndDuration(t *testing.T) {
	f := &fakeTarget{wrongOn: "b"}
	rep, err := Run(context.Background(), Config{
		Target: f, Workload: workload(), Concurrency: 2,
		Duration: 50 * time.Millisecond, Warmup: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.WarmupRequests == 0 || rep.WarmupWrong == 0 {
		t.Errorf("warmup: %d requests, %d wrong; want both counted", rep.WarmupRequests, rep.WarmupWrong)
	}
	if rep.Requests == 0 || rep.Wrong == 0 {
		t.Errorf("measured: %d requests, %d wrong", rep.Requests, rep.Wrong)
	}
	if rep.Load.Duration != "50ms" || rep.Load.Mode != "closed" {
		t.Errorf("load %+v", rep.Load)
	}
}

func TestRunStopsWhenCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rep, err := Run(ctx, Config{Target: &fakeTarget{}, Workload: workload(), Duration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Notes) == 0 {
		t.Error("an interrupted run should say so")
	}
}

func TestRunRefusesBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{Workload: workload(), Requests: 1},
		{Target: &fakeTarget{}, Requests: 1},
		{Target: &fakeTarget{}, Workload: workload()},
		{Target: &fakeTarget{}, Workload: workload(), Requests: 1, Rate: -1},
	} {
		if _, err := Run(context.Background(), cfg); err == nil {
			t.Errorf("Run(%+v) succeeded", cfg)
		}
	}
}

func TestErrorKind(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{result.ErrTimeout, "timeout"},
		{context.DeadlineExceeded, "timeout"},
		{result.ErrOverloaded, "overloaded"},
		{result.ErrUnavailable, "unavailable"},
		{result.ErrUntrusted, "untrusted"},
		{result.ErrHelperExited, "exited"},
		{fmt.Errorf("%w: %w", result.ErrHelperExited, io.EOF), "exited"},
		{framing.ErrProtocol, "protocol"},
		{framing.ErrBadRequest, "badrequest"},
		{result.ErrClosed, "closed"},
		{client.ErrDaemonClosing, "closed"},
		{context.Canceled, "canceled"},
		{&httpStatusError{503}, "http_503"},
		{errConnection, "connection"},
		{errBadAnswer, "bad_answer"},
		{errors.New("?"), "other"},
	}
	for _, tt := range tests {
		if got := ErrorKind(tt.err); got != tt.want {
			t.Errorf("ErrorKind(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

// False accepts, the wrong answers that matter most, lead the examples
// however many false rejects came first.
func TestWrongExamplesFalseAcceptsFirst(t *testing.T) {
	r := func(user, pw string) framing.Request {
		return framing.Request{Op: framing.OpAuth, User: user, Server: "x", Password: pw}
	}
	var items []Item
	for range 20 {
		items = append(items, Item{r("rejected", "right"), ExpectYes}) // answered no: a false reject
	}
	items = append(items, Item{r("accepted", "wrong"), ExpectNo}) // answered yes: a false accept
	target := &wrongTarget{}
	rep, err := Run(context.Background(), Config{Target: target, Workload: &Workload{Source: "test", Items: items},
		Concurrency: 1, Requests: int64(len(items))})
	if err != nil {
		t.Fatal(err)
	}
	if rep.FalseAccepts == 0 || len(rep.WrongExamples) == 0 || !strings.Contains(rep.WrongExamples[0], "accepted") {
		t.Errorf("%d false accepts; examples %q: want a false accept first", rep.FalseAccepts, rep.WrongExamples)
	}
}

// wrongTarget answers every request wrong.
type wrongTarget struct{}

func (wrongTarget) Do(_ context.Context, _ int, req framing.Request) (bool, error) {
	return req.Password != "right", nil
}
func (wrongTarget) Close() error { return nil }

func TestCount(t *testing.T) {
	for _, tt := range []struct {
		n    int
		want string
	}{{0, "0 helpers"}, {1, "1 helper"}, {4, "4 helpers"}} {
		if got := Count(tt.n, "helper"); got != tt.want {
			t.Errorf("Count(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

// watchedTarget is a fakeTarget with one helper, this process, whose
// answers are its calls.
type watchedTarget struct{ fakeTarget }

func (w *watchedTarget) HelperPIDs() []HelperPID {
	return []HelperPID{{PID: os.Getpid(), Served: w.calls.Load()}}
}

// A run shorter than one sampling tick still measures its helpers over
// the run: CI once saw a whole run fall between two ticks, and a leaking
// helper reported as having served nothing.
func TestRunSamplesShortRun(t *testing.T) {
	f := &watchedTarget{}
	rep, err := Run(context.Background(), Config{
		Target:      f,
		Workload:    workload(),
		Concurrency: 2,
		Requests:    400,
		SampleEvery: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Helpers) != 1 || rep.Helpers[0].Served < 200 {
		t.Errorf("helpers %+v, want one that served at least half the run", rep.Helpers)
	}
}
