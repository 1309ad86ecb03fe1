package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/authpool/authpool/framing"
	"github.com/authpool/authpool/internal/testutil/fakepool"
	"github.com/authpool/authpool/result"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakePool answers auth requests true when the password is the user's name
// reversed, after a random delay up to maxWait (so answers finish out of
// order), and 200ms for the user "slow"; it fails the requests of the users
// in failures, and refuses those of "overload".
type fakePool = fakepool.Pool

func newFake(maxWait time.Duration) *fakePool {
	return &fakePool{
		Answer:   func(req framing.Request) bool { return req.Password == reverse(req.User) },
		Failures: failures,
		Refusals: map[string]error{"overload": result.ErrOverloaded},
		Delay: func(req framing.Request) time.Duration {
			var d time.Duration
			if maxWait > 0 {
				d = rand.N(maxWait)
			}
			if req.User == "slow" {
				d += 200 * time.Millisecond
			}
			return d
		},
	}
}

// failures are the results of requests for these users.
var failures = map[string]error{
	"fail":        result.ErrTimeout,
	"timeout":     fmt.Errorf("helper 3: %w", result.ErrTimeout),
	"unavailable": result.ErrUnavailable,
	"untrusted":   result.ErrUntrusted,
	"protocol":    fmt.Errorf("%w: junk", framing.ErrProtocol),
	"exited":      result.ErrHelperExited,
	"closed":      result.ErrClosed,
	"weird":       errors.New("something else"),
}

func reverse(s string) string {
	b := []byte(s)
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return string(b)
}

// serve starts a Server for f on a fresh socket and stops it at cleanup.
func serve(t *testing.T, f *fakePool) (*Server, string) {
	t.Helper()
	return serveWith(t, Config{Pool: f}, (*Server).Serve)
}

func serveWith(t *testing.T, cfg Config, how func(*Server, net.Listener) error) (*Server, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s.sock")
	l, err := ListenUnix(path, 0o660, -1)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- how(s, l) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve = %v", err)
		}
	})
	return s, path
}

func dial(t *testing.T, path string) net.Conn {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c
}

func TestPipelinedAnswersInOrder(t *testing.T) {
	f := newFake(5 * time.Millisecond)
	_, path := serve(t, f)
	c := dial(t, path)
	var sb strings.Builder
	var want []string
	for i := range 500 {
		user := fmt.Sprint("user", i)
		pass := reverse(user)
		if i%3 == 0 {
			pass = "wrong"
		}
		fmt.Fprintf(&sb, "auth:%s:example.com:%s\n", user, pass)
		want = append(want, map[bool]string{true: "1", false: "0"}[i%3 != 0])
	}
	go c.Write([]byte(sb.String()))
	r := bufio.NewScanner(c)
	for i, w := range want {
		if !r.Scan() {
			t.Fatalf("answer %d: %v", i, r.Err())
		}
		if r.Text() != w {
			t.Fatalf("answer %d = %q, want %q", i, r.Text(), w)
		}
	}
}

func TestEveryLineGetsOneAnswer(t *testing.T) {
	f := newFake(0)
	_, path := serve(t, f)
	tests := []struct {
		line string
		want string
	}{
		{"auth:abc:example.com:cba", "1"},
		{"auth:abc:example.com:cba\r", "1"}, // CRLF clients
		{"auth:abc:example.com:wrong", "0"},
		{"", "0"},
		{"hello", "0"},
		{"auth:a:b", "0"},
		{"auth:a\x00:b:c", "0"},
		{"frobnicate:a:b:c", "0"},
		{"auth:fail:example.com:liaf", "0"},
		{"auth:overload:example.com:x", "0"},
		{"auth:abc:example.com:" + strings.Repeat("x", 70000), "0"},
		{"isuser:abc:example.com:extra", "0"},
	}
	c := dial(t, path)
	r := bufio.NewReader(c)
	for _, tt := range tests {
		if _, err := c.Write([]byte(tt.line + "\n")); err != nil {
			t.Fatal(err)
		}
		got, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("%.40q: %v", tt.line, err)
		}
		if got != tt.want+"\n" {
			t.Errorf("%.40q: answer %q, want %q", tt.line, got, tt.want)
		}
	}
	for _, req := range f.Seen() {
		if req.User != "abc" && req.User != "fail" && req.User != "overload" {
			t.Errorf("malformed request reached the pool: %v", req)
		}
	}
}

func TestHalfCloseGetsAllAnswers(t *testing.T) {
	f := newFake(10 * time.Millisecond)
	_, path := serve(t, f)
	c := dial(t, path).(*net.UnixConn)
	c.Write([]byte("auth:ab:x:ba\nauth:ab:x:no\nisuser:ab:x\nauth:ab:x:ba"))
	c.CloseWrite()
	var got []string
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		got = append(got, sc.Text())
	}
	// The last line has no line end: the client stopped mid-request, so it
	// is not answered.
	if strings.Join(got, ",") != "1,0,0" {
		t.Fatalf("answers %v, want [1 0 0]", got)
	}
}

func TestShutdownAnswersWhatWasRead(t *testing.T) {
	f := newFake(50 * time.Millisecond)
	s, path := serve(t, f)
	c := dial(t, path)
	c.Write([]byte("auth:ab:x:ba\nauth:cd:x:dc\n"))
	within(t, "the server to read both", func() bool { return len(f.Seen()) == 2 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(c)
	var got []string
	for sc.Scan() {
		got = append(got, sc.Text())
	}
	if strings.Join(got, ",") != "1,1" {
		t.Fatalf("answers after Shutdown: %v", got)
	}
	if _, err := net.Dial("unix", path); err == nil {
		t.Fatal("still accepting after Shutdown")
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("socket file left behind: %v", err)
	}
}

func TestListenUnix(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.sock")
	l, err := ListenUnix(path, 0o660, -1)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o660 {
		t.Errorf("socket mode %v, want 0660", fi.Mode().Perm())
	}
	// A live socket is refused, not stolen.
	go func() {
		if c, err := l.Accept(); err == nil {
			c.Close()
		}
	}()
	if _, err := ListenUnix(path, 0o660, -1); !errors.Is(err, ErrSocketInUse) {
		t.Fatalf("second ListenUnix = %v, want ErrSocketInUse", err)
	}
	// A stale one (its listener gone without removing the file) is
	// replaced.
	l.SetUnlinkOnClose(false)
	l.Close()
	l2, err := ListenUnix(path, 0o600, -1)
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	l2.Close()
	if _, err := ListenUnix(path, 0o666, -1); err == nil {
		t.Fatal("world-writable mode accepted")
	}
	plain := filepath.Join(dir, "file")
	os.WriteFile(plain, nil, 0o600)
	if _, err := ListenUnix(plain, 0o600, -1); err == nil {
		t.Fatal("a regular file was replaced by a socket")
	}
}
