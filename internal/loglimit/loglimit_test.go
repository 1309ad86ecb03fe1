package loglimit

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/authpool/authpool/internal/testutil"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// clock is a fake time source tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// newTest returns a limited logger writing text lines to the returned
// buffer, on a fake clock.
func newTest(t *testing.T, cfg Config) (*slog.Logger, *Handler, *testutil.SyncBuffer, *clock) {
	t.Helper()
	var buf testutil.SyncBuffer
	c := &clock{t: time.Unix(1e9, 0)}
	cfg.now = c.now
	h := New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}), cfg)
	t.Cleanup(h.Close)
	return slog.New(h), h, &buf, c
}

func lines(buf *testutil.SyncBuffer, substr string) []string {
	var out []string
	for _, l := range strings.Split(buf.String(), "\n") {
		if l != "" && strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return out
}

// TestFloodIsBounded is finding 7 of issue 10 in miniature: 200,000
// malformed lines gave 200,000 log lines.
func TestFloodIsBounded(t *testing.T) {
	log, h, buf, _ := newTest(t, Config{})
	for i := range 200000 {
		log.Info("request refused", "conn", i, "err", "bad request")
	}
	if n := len(lines(buf, "request refused")); n != 20 {
		t.Fatalf("%d lines passed, want the burst of 20", n)
	}
	h.Close()
	got := lines(buf, SuppressedMsg)
	if len(got) != 1 || !strings.Contains(got[0], "suppressed=199980") || !strings.Contains(got[0], `message="request refused"`) {
		t.Fatalf("count lines %q", got)
	}
	// Closed: nothing is held back any more.
	log.Info("request refused")
	if n := len(lines(buf, "request refused")); n != 22 {
		t.Fatalf("after Close: %d lines, want 22", n)
	}
}

func TestLimits(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		// run logs; the clock moves as it says.
		run  func(log *slog.Logger, h *Handler, c *clock)
		want map[string]int // substring: lines that contain it, before Close
	}{
		{
			name: "debug passes unlimited",
			cfg:  Config{Burst: 2},
			run: func(log *slog.Logger, _ *Handler, _ *clock) {
				for range 100 {
					log.Debug("request answered")
				}
			},
			want: map[string]int{"request answered": 100, SuppressedMsg: 0},
		},
		{
			name: "each message and level has its own budget",
			cfg:  Config{Burst: 3},
			run: func(log *slog.Logger, _ *Handler, _ *clock) {
				for range 10 {
					log.Info("a")
					log.Warn("a")
					log.Info("b")
				}
			},
			want: map[string]int{"level=INFO msg=a": 3, "level=WARN msg=a": 3, "msg=b": 3},
		},
		{
			name: "a new window, a new burst, and the count of the last",
			cfg:  Config{Burst: 2, Window: time.Second},
			run: func(log *slog.Logger, _ *Handler, c *clock) {
				for range 5 {
					log.Info("x")
				}
				c.add(time.Second)
				for range 5 {
					log.Info("x")
				}
			},
			want: map[string]int{"msg=x": 4, "suppressed=3": 1},
		},
		{
			name: "Flush counts only windows that are over",
			cfg:  Config{Burst: 1, Window: time.Second},
			run: func(log *slog.Logger, h *Handler, c *clock) {
				log.Info("x")
				log.Info("x")
				h.Flush()
				c.add(999 * time.Millisecond)
				h.Flush()
				log.Info("y")
				log.Info("y")
				c.add(time.Millisecond)
				h.Flush()
			},
			want: map[string]int{"msg=x": 1, `message=x suppressed=1`: 1, `message=y`: 0},
		},
		{
			name: "messages beyond MaxKeys share one budget",
			cfg:  Config{Burst: 1, MaxKeys: 4},
			run: func(log *slog.Logger, _ *Handler, _ *clock) {
				for i := range 1000 {
					log.Warn(fmt.Sprintf("http: error from 127.0.0.1:%d", i))
				}
			},
			want: map[string]int{"http: error": 5},
		},
		{
			name: "MaxKeys makes room once windows are over",
			cfg:  Config{Burst: 1, MaxKeys: 2, Window: time.Second},
			run: func(log *slog.Logger, _ *Handler, c *clock) {
				log.Info("a")
				log.Info("b")
				c.add(time.Second)
				log.Info("c")
				log.Info("d")
			},
			want: map[string]int{"msg=a": 1, "msg=b": 1, "msg=c": 1, "msg=d": 1},
		},
		{
			name: "derived loggers share the limit and keep their attributes",
			cfg:  Config{Burst: 4},
			run: func(log *slog.Logger, _ *Handler, _ *clock) {
				for i := range 10 {
					log.With("conn", i).WithGroup("g").Info("refused", "k", "v")
				}
			},
			want: map[string]int{"msg=refused": 4, "conn=3 g.k=v": 1, "conn=4": 0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log, h, buf, c := newTest(t, tt.cfg)
			tt.run(log, h, c)
			for sub, n := range tt.want {
				if got := len(lines(buf, sub)); got != n {
					t.Errorf("%d lines with %q, want %d:\n%s", got, sub, n, buf.String())
				}
			}
		})
	}
}

// TestCountAfterQuiet: a flood that stops is still counted, without
// another record to trigger it.
func TestCountAfterQuiet(t *testing.T) {
	var buf testutil.SyncBuffer
	h := New(slog.NewTextHandler(&buf, nil), Config{Burst: 1, Window: 50 * time.Millisecond})
	defer h.Close()
	log := slog.New(h)
	for range 10 {
		log.Warn("connection refused")
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(lines(&buf, SuppressedMsg)) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no count after the window:\n%s", buf.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := lines(&buf, SuppressedMsg); len(got) != 1 || !strings.Contains(got[0], "suppressed=9") {
		t.Fatalf("count lines %q", got)
	}
}

func TestConcurrent(t *testing.T) {
	log, h, buf, _ := newTest(t, Config{Burst: 7})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				log.With("g", g).Info("flood", "i", i)
			}
		})
	}
	wg.Wait()
	h.Close()
	if n := len(lines(buf, "msg=flood")); n != 7 {
		t.Fatalf("%d passed, want 7", n)
	}
	if got := lines(buf, SuppressedMsg); len(got) != 1 || !strings.Contains(got[0], "suppressed=7993") {
		t.Fatalf("count lines %q", got)
	}
}
