package main

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"mellium.im/xmpp/stream"

	"github.com/authpool/authpool/internal/testutil"
)

func TestParseFlags(t *testing.T) {
	for _, tt := range []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"minimal", []string{"--domain", "example.com", "--", "helper"}, ""},
		{"two domains", []string{"--domain", "example.com, example.net", "--", "helper"}, ""},
		{"no helper", []string{"--domain", "example.com"}, "no helper command"},
		{"no domain", []string{"--", "helper"}, "no --domain"},
		{"cert without key", []string{"--domain", "example.com", "--cert", "c.pem", "--", "helper"}, "go together"},
		{"zero timeout", []string{"--domain", "example.com", "--login-timeout", "0s", "--", "helper"}, "must be positive"},
		{"no processes", []string{"--domain", "example.com", "--processes", "0", "--", "helper"}, "must be positive"},
	} {
		_, err := parseFlags(tt.args, io.Discard)
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.wantErr)
		}
	}
	if _, err := parseDomains([]string{"alice@example.com"}); err == nil {
		t.Error("a user address taken as a domain")
	}
}

// A helper that cannot answer makes the server refuse to start, however it
// fails; nothing listens.
func TestRunRefusesABrokenHelper(t *testing.T) {
	for _, tt := range []struct {
		name   string
		helper []string
		cause  string
	}{
		{"not found", []string{"/nonexistent/helper"}, "no such file"},
		{"exits at once", []string{"sh", "-c", "exit 3"}, "exited with status 3"},
		{"answers junk", []string{"/bin/cat"}, "not one answer"},
		{"hangs", []string{"sleep", "3600"}, "timed out"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			logs := &testutil.SyncBuffer{}
			args := append([]string{"--listen", "127.0.0.1:0", "--domain", "example.com", "--timeout", "300ms", "--"}, tt.helper...)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err := run(ctx, args, logs)
			if err == nil || !strings.Contains(err.Error(), "cannot answer") || !strings.Contains(err.Error(), tt.cause) {
				t.Errorf("run: %v, want a refusal to start that says %q", err, tt.cause)
			}
			if strings.Contains(logs.String(), "listening") {
				t.Errorf("it listened:\n%s", logs)
			}
		})
	}
}

// The command as a user runs it: it serves, and on its context's end
// (SIGTERM) it ends sessions and leaves no helper behind.
func TestRunServesAndShutsDown(t *testing.T) {
	helperLog := filepath.Join(t.TempDir(), "helper.log")
	logs := &testutil.SyncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--listen", "127.0.0.1:0", "--domain", "example.com", "--processes", "2", "--",
			"env", fakeEnv + "=db", fakeLogEnv + "=" + helperLog, os.Args[0]}, logs)
	}()
	addrRE := regexp.MustCompile(`msg="xmppd listening" addr=(\S+)`)
	within(t, "the server to listen", func() bool { return addrRE.MatchString(logs.String()) })
	addr := addrRE.FindStringSubmatch(logs.String())[1]

	// The certificate is made at start: this client cannot verify it.
	insecure := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}
	sess, err := loginAt(t, addr, insecure, "alice@example.com", "wonderland")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := loginAt(t, addr, insecure, "alice@example.com", "guess"); err == nil || err.Error() != "not-authorized" {
		t.Errorf("wrong password: %v", err)
	}
	served := make(chan error, 1)
	go func() { served <- sess.Serve(nil) }()

	cancel()
	select {
	case err := <-served:
		if !errors.Is(err, stream.SystemShutdown) {
			t.Errorf("session ended with %v, want system-shutdown", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the session was not ended")
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("run did not return after its context ended")
	}
	b, _ := os.ReadFile(helperLog)
	pids := regexp.MustCompile(`(?m)^pid (\d+)$`).FindAllStringSubmatch(string(b), -1)
	if len(pids) < 2 {
		t.Fatalf("helper log names %d helpers:\n%s", len(pids), b)
	}
	for _, m := range pids {
		pid, _ := strconv.Atoi(m[1])
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("helper %d still there after shutdown (kill 0: %v)", pid, err)
		}
	}
	if !strings.Contains(logs.String(), "session ended") {
		t.Errorf("the session was not ended:\n%s", logs)
	}
}

func TestClientConnBudget(t *testing.T) {
	a, b := netPipe(t)
	c := newClientConn(a, 10)
	go b.Write(make([]byte, 64))
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if n > 10 || err != nil {
		t.Fatalf("first read: %d, %v", n, err)
	}
	for err == nil {
		_, err = c.Read(buf)
	}
	if !errors.Is(err, errElementTooLarge) {
		t.Fatalf("read past the budget: %v", err)
	}
	c.refill()
	if n, err := c.Read(buf); err != nil || n == 0 {
		t.Fatalf("after refill: %d, %v", n, err)
	}
}

// mellium clears a connection's deadline after interrupting a read; during
// negotiation that must not lift the hard one.
func TestClientConnHardDeadline(t *testing.T) {
	a, _ := netPipe(t)
	c := newClientConn(a, 1<<10)
	c.setHardDeadline(time.Now().Add(50 * time.Millisecond))
	c.SetDeadline(time.Time{})
	c.SetReadDeadline(time.Now().Add(time.Hour))
	done := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 1))
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("read: %v, want the hard deadline", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the hard deadline was lifted")
	}
	// Once negotiation is over, it is gone.
	c.setHardDeadline(time.Time{})
	if got := c.bound(time.Time{}); !got.IsZero() {
		t.Errorf("deadline %v after the hard one was cleared", got)
	}
}
