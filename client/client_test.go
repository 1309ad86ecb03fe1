package client

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/authpool/authpool/framing"
	"github.com/authpool/authpool/internal/testutil/fakepool"
	"github.com/authpool/authpool/result"
	"github.com/authpool/authpool/server"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakePool answers auth true when the password is "pw-" + user, after
// 100ms for the user "slow", and fails requests for the users in failures.
type fakePool = fakepool.Pool

func newFake() *fakePool {
	return &fakePool{
		Failures: failures,
		Delay: func(req framing.Request) time.Duration {
			if req.User == "slow" {
				return 100 * time.Millisecond
			}
			return 0
		},
	}
}

var failures = map[string]error{
	"timeout":     result.ErrTimeout,
	"unavailable": result.ErrUnavailable,
	"untrusted":   result.ErrUntrusted,
	"overloaded":  result.ErrOverloaded,
	"protocol":    fmt.Errorf("%w: junk", framing.ErrProtocol),
	"exited":      result.ErrHelperExited,
	"closed":      result.ErrClosed,
}

// daemon is a server on a socket path that a test can stop and restart.
type daemon struct {
	t    *testing.T
	path string
	f    *fakePool
	srv  *server.Server
	done chan error
}

func startDaemon(t *testing.T, path string) *daemon {
	t.Helper()
	d := &daemon{t: t, path: path, f: newFake(), done: make(chan error, 1)}
	l, err := server.ListenUnix(path, 0o600, -1)
	if err != nil {
		t.Fatal(err)
	}
	d.srv, _ = server.New(server.Config{Pool: d.f})
	go func() { d.done <- d.srv.Serve(l) }()
	t.Cleanup(d.stop)
	return d
}

func (d *daemon) stop() {
	if d.srv == nil {
		return
	}
	d.srv.Close()
	<-d.done
	d.srv = nil
}

func newClient(t *testing.T, path string) *Client {
	t.Helper()
	c, err := New(Config{Socket: path, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestConcurrentOverOneConnection(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.sock")
	startDaemon(t, path)
	c := newClient(t, path)
	authMany(t, c, 400, func(i int) string {
		if i%10 == 0 {
			return "slow"
		}
		return fmt.Sprint("u", i)
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sess == nil {
		t.Fatal("no session")
	}
}

func TestErrorsAreTyped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.sock")
	startDaemon(t, path)
	c := newClient(t, path)
	ctx := context.Background()
	for user, want := range map[string]error{
		"timeout":     ErrTimeout,
		"unavailable": ErrUnavailable,
		"untrusted":   ErrUntrusted,
		"overloaded":  ErrOverloaded,
		"protocol":    ErrProtocol,
		"exited":      ErrExited,
		"closed":      ErrDaemonClosing,
	} {
		if _, err := c.Auth(ctx, user, "example.com", "x"); !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", user, err, want)
		}
	}
	// Refused by the client before sending.
	if _, err := c.Auth(ctx, "a:b", "example.com", "x"); !errors.Is(err, ErrBadRequest) {
		t.Errorf("bad request: %v", err)
	}
	// A context deadline is a timeout too.
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if _, err := c.Auth(short, "slow", "example.com", "pw-slow"); !errors.Is(err, ErrTimeout) {
		t.Errorf("short deadline: %v", err)
	}
	if ok, err := c.IsUser(ctx, "bob", "example.com"); !ok || err != nil {
		t.Errorf("after errors: %v, %v", ok, err)
	}
}

func TestReconnectsAfterDaemonRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.sock")
	d := startDaemon(t, path)
	c := newClient(t, path)
	ctx := context.Background()
	if ok, err := c.Auth(ctx, "a", "b", "pw-a"); !ok || err != nil {
		t.Fatalf("first: %v, %v", ok, err)
	}
	d.stop()
	if _, err := c.Auth(ctx, "a", "b", "pw-a"); !errors.Is(err, ErrConnection) {
		t.Fatalf("daemon down: %v, want ErrConnection", err)
	}
	startDaemon(t, path)
	if ok, err := c.Auth(ctx, "a", "b", "pw-a"); !ok || err != nil {
		t.Fatalf("after restart: %v, %v", ok, err)
	}
}

func TestClosed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.sock")
	startDaemon(t, path)
	c := newClient(t, path)
	if _, err := c.IsUser(context.Background(), "a", "b"); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, err := c.IsUser(context.Background(), "a", "b"); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	if _, err := Dial(context.Background(), filepath.Join(t.TempDir(), "none")); !errors.Is(err, ErrConnection) {
		t.Fatalf("Dial to nothing: %v", err)
	}
}

// authMany sends n auth requests at once, for user(i), every third with a
// wrong password, and checks each answer.
func authMany(t *testing.T, c *Client, n int, user func(int) string) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			u := user(i)
			pw, want := "pw-"+u, true
			if i%3 == 0 {
				pw, want = "wrong", false
			}
			got, err := c.Auth(context.Background(), u, "example.com", pw)
			if err != nil || got != want {
				errs <- fmt.Errorf("%s: %v, %v; want %v", u, got, err, want)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
