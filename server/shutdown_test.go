package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/authpool/authpool/framing"
	"github.com/authpool/authpool/pool"
)

// TestShutdownAnswersTheRequestInTheReader: a connection's only request
// runs in its reader. Shutdown during it must still stop the reader after
// the answer, though the reader sets its read deadline anew before it
// reads again: it would otherwise wait out ClientTimeout, and Shutdown
// its context.
func TestShutdownAnswersTheRequestInTheReader(t *testing.T) {
	f := newFake(0)
	s, path := serveWith(t, Config{Pool: f, ClientTimeout: time.Hour}, (*Server).Serve)
	c := dial(t, path)
	fmt.Fprint(c, "auth:slow:x:wols\n") // answered after 200ms
	within(t, "the request to reach the pool", func() bool { return len(f.Seen()) == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown = %v: the reader read on after the answer", err)
	}
	if got, err := bufio.NewReader(c).ReadString('\n'); got != "1\n" {
		t.Fatalf("answer %q, %v", got, err)
	}
}

// TestForcedShutdownAbandonsRequests: requests with a helper that never
// answers, one in a connection's reader and one pipelined on another (in
// a goroutine of its own), in both pool modes. When Shutdown's context
// ends, the requests are abandoned and the connections closed unanswered:
// Shutdown returns then, not when the pool would time them out
// (Timeout + StartTimeout, here two minutes).
func TestForcedShutdownAbandonsRequests(t *testing.T) {
	for _, mode := range []pool.Mode{pool.Blocking, pool.NonBlocking} {
		t.Run(mode.String(), func(t *testing.T) {
			p, err := pool.New(pool.Config{
				Command:   []string{"../testscripts/misbehave.py"},
				Processes: 2,
				Mode:      mode,
				Timeout:   time.Minute,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			ready, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := p.WaitReady(ready); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "s.sock")
			l, err := ListenUnix(path, 0o600, -1)
			if err != nil {
				t.Fatal(err)
			}
			s, err := New(Config{Pool: p})
			if err != nil {
				t.Fatal(err)
			}
			served := make(chan error, 1)
			go func() { served <- s.Serve(l) }()

			alone, piped := dial(t, path), dial(t, path)
			fmt.Fprint(alone, "auth:hang:example.com:x\n")
			fmt.Fprint(piped, "1 auth:hang:example.com:x\n2 isuser:hang:example.com\n")
			within(t, "the pool to take the three requests", func() bool {
				st := p.Stats()
				return st.Requests == 3 && st.InFlight >= 3
			})

			sctx, scancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer scancel()
			start := time.Now()
			err = s.Shutdown(sctx)
			took := time.Since(start)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Shutdown = %v, want its context's error", err)
			}
			if took > 20*time.Second {
				t.Errorf("Shutdown took %v with a 200ms context", took)
			}
			for _, c := range []net.Conn{alone, piped} {
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				if b, err := io.ReadAll(c); len(b) != 0 || err != nil {
					t.Errorf("abandoned connection got %q, %v; want it closed unanswered", b, err)
				}
			}
			select {
			case err := <-served:
				if !errors.Is(err, ErrServerClosed) {
					t.Errorf("Serve = %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Serve did not return")
			}
		})
	}
}

// TestHeldAnswerNotKeptBehindRequestInReader: two requests sent together;
// the first runs on its own and is answered at once, while the reader
// holds the flush for the rest of the batch. The second then finds the
// connection empty and runs in the reader, and never ends. The first
// answer must still reach the client: the reader flushes what it holds
// before anything that may wait, a request it runs itself included.
func TestHeldAnswerNotKeptBehindRequestInReader(t *testing.T) {
	f := hangingFake()
	first := true
	testHookHandled = func(c *conn) {
		if first {
			// The first request's answer is written before the reader
			// reads the second.
			first = false
			within(t, "the first answer to be written", func() bool { return len(c.slots) == 0 })
		}
	}
	t.Cleanup(func() { testHookHandled = nil })
	_, path := serve(t, f)
	c := dial(t, path)
	fmt.Fprint(c, "auth:ab:x:ba\nauth:hang:x:y\n")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if got, err := bufio.NewReader(c).ReadString('\n'); got != "1\n" {
		t.Fatalf("first answer %q, %v: held behind the second request", got, err)
	}
}

// TestRequestInReaderDoesNotBlockReading: a request alone on its
// connection runs in the reader; when its helper hangs, a request the
// client sends meanwhile is still read, and started, within moments.
func TestRequestInReaderDoesNotBlockReading(t *testing.T) {
	f := hangingFake()
	_, path := serve(t, f)
	c := dial(t, path)
	fmt.Fprint(c, "auth:hang:x:y\n")
	within(t, "the first request to reach the pool", func() bool { return len(f.Seen()) == 1 })
	fmt.Fprint(c, "auth:ab:x:ba\n")
	within(t, "the second request to reach the pool", func() bool { return len(f.Seen()) == 2 })
}

// hangingFake answers at once, except the user "hang": never (until the
// request's context ends).
func hangingFake() *fakePool {
	f := newFake(0)
	f.Delay = func(req framing.Request) time.Duration {
		if req.User == "hang" {
			return time.Hour
		}
		return 0
	}
	return f
}
