package server

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/authpool/authpool/internal/testutil"
)

// TestBadInput: every malformed request gets a clear refusal, and the
// connection, and every other client, goes on.
func TestBadInput(t *testing.T) {
	f := newFake(0)
	_, path := serve(t, f)
	tests := []struct {
		name, line string
	}{
		{"empty", ""},
		{"no fields", "auth"},
		{"missing server", "auth:ab"},
		{"missing password", "auth:ab:x"},
		{"unknown op", "login:ab:x:ba"},
		{"upper-case op", "AUTH:ab:x:ba"},
		{"colon in server", "isuser:ab:x:y"},
		{"empty user", "auth::x:ba"},
		{"empty server", "auth:ab::ba"},
		{"NUL in user", "auth:a\x00b:x:ba"},
		{"NUL in password", "auth:ab:x:b\x00a"},
		{"CR in password", "auth:ab:x:b\ra"},
		{"invalid UTF-8 op", "\xff\xfe:ab:x:ba"},
		{"over-long line", "auth:ab:x:" + strings.Repeat("p", 70000)},
		{"native, bad id", "1x auth:ab:x:ba"},
		{"native, no request", "12"},
	}
	c := dial(t, path)
	r := bufio.NewReader(c)
	other := dial(t, path)
	otherR := bufio.NewReader(other)
	for _, tt := range tests {
		fmt.Fprintf(c, "%s\n", tt.line)
		got, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got != "0\n" && !strings.Contains(got, "error badrequest") {
			t.Errorf("%s: answer %q, want a refusal", tt.name, got)
		}
		// Nobody else notices.
		fmt.Fprint(other, "auth:ab:x:ba\n")
		if got, err := otherR.ReadString('\n'); got != "1\n" || err != nil {
			t.Fatalf("other client after %s: %q, %v", tt.name, got, err)
		}
	}
	// Invalid UTF-8 in the password is a password like any other.
	fmt.Fprint(c, "auth:ab:x:\xff\xfe\n")
	if got, _ := r.ReadString('\n'); got != "0\n" {
		t.Errorf("invalid UTF-8 password: %q", got)
	}
	for _, req := range f.Seen() {
		if req.User != "ab" || req.Server != "x" {
			t.Errorf("malformed request reached the pool: %v", req)
		}
	}
}

// closedWithin reports whether the server closes c, reading and dropping
// what it sends, within d.
func closedWithin(c net.Conn, d time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	return err == nil || errors.Is(err, syscall.ECONNRESET)
}

func TestStalledClientsClosed(t *testing.T) {
	for _, tt := range []struct {
		name  string
		serve func(*Server, net.Listener) error
		send  []byte
	}{
		{"half a line", (*Server).Serve, []byte("auth:ab:x:b")},
		{"silent", (*Server).Serve, nil},
		{"frame length lies", (*Server).ServeEjabberd, append(binary.BigEndian.AppendUint16(nil, 100), "auth:ab:x"...)},
		{"half a length", (*Server).ServeEjabberd, []byte{0}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(0)
			_, path := serveWith(t, Config{Pool: f, ClientTimeout: 200 * time.Millisecond}, tt.serve)
			c := dial(t, path)
			c.Write(tt.send)
			if !closedWithin(c, 10*time.Second) {
				t.Fatal("stalled client not closed")
			}
			if len(f.Seen()) != 0 {
				t.Fatalf("a partial request reached the pool: %v", f.Seen())
			}
		})
	}
}

// TestWaitingForAnswersIsNotIdle: a client whose request takes longer than
// ClientTimeout keeps its connection and gets its answer.
func TestWaitingForAnswersIsNotIdle(t *testing.T) {
	_, path := serveWith(t, Config{Pool: newFake(0), ClientTimeout: 50 * time.Millisecond}, (*Server).Serve)
	c := dial(t, path)
	fmt.Fprint(c, "auth:slow:x:wols\n") // answered after 200ms
	if got, err := bufio.NewReader(c).ReadString('\n'); got != "1\n" {
		t.Fatalf("slow answer: %q, %v", got, err)
	}
}

func TestManyIdleConnections(t *testing.T) {
	fds := func() int { return testutil.OpenFDs(t) }
	f := newFake(0)
	srv, path := serveWith(t, Config{Pool: f, MaxConnections: 1500, MaxConnectionsPerPeer: 1500}, (*Server).Serve)
	before := fds()
	var idle []net.Conn
	for range 2000 {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	// The 500 over the limit are closed by the server; the rest stay.
	closed := 0
	for _, c := range idle[1500:] {
		if closedWithin(c, 10*time.Second) {
			closed++
		}
	}
	if closed != 500 {
		t.Errorf("%d of 500 connections over the limit closed", closed)
	}
	// An active client is unaffected once there is room.
	idle[0].Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		srv.mu.Lock()
		n := len(srv.conns)
		srv.mu.Unlock()
		if n < 1500 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	c := dial(t, path)
	fmt.Fprint(c, "auth:ab:x:ba\n")
	if got, err := bufio.NewReader(c).ReadString('\n'); got != "1\n" {
		t.Fatalf("active client among idle ones: %q, %v", got, err)
	}
	for _, c := range idle {
		c.Close()
	}
	c.Close()
	// Every descriptor comes back.
	deadline = time.Now().Add(10 * time.Second)
	for fds() > before && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := fds(); n > before {
		t.Fatalf("%d descriptors open after closing every connection, %d before", n, before)
	}
}

// A refused line is logged by its operation and the rule it broke, never
// as an empty request (op=Op(0) user="").
func TestRefusalsNameOpAndRule(t *testing.T) {
	var logs testutil.SyncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	_, path := serveWith(t, Config{Pool: &fakePool{}, Logger: log}, (*Server).Serve)
	c := dial(t, path)
	r := bufio.NewReader(c)
	for _, tt := range []struct{ line, want string }{
		{"hello", `op=none rule="bad request: no ':' after the operation"`},
		{"isuser:bob:example.com:extra", `op=isuser rule="bad request: isuser takes no password`},
		{"auth:bob", `op=auth rule="bad request: auth needs a user and a server"`},
		{"auth:al\x00ice:example.com:pw", `op=auth rule="bad request: user contains a NUL byte"`},
	} {
		fmt.Fprintf(c, "%s\n", tt.line)
		if _, err := r.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(logs.String(), tt.want) {
			t.Errorf("%q: log lacks %q:\n%s", tt.line, tt.want, logs.String())
		}
	}
	if strings.Contains(logs.String(), "Op(0)") {
		t.Errorf("a refusal logged as an empty request:\n%s", logs.String())
	}
}
