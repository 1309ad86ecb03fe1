//go:build integration

package main

// go-sendxmpp (Debian's package, on go-xmpp) logs in to the example server
// built as a binary, on loopback, through authpool's pool and
// testscripts/misbehave.py. Run with "make integration".

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/authpool/authpool/internal/testutil"
)

// xmppdProcess is the built example, running.
type xmppdProcess struct {
	cmd  *exec.Cmd
	logs *testutil.SyncBuffer
	done chan error
}

func startXmppd(t *testing.T, bin string, args ...string) *xmppdProcess {
	t.Helper()
	p := &xmppdProcess{cmd: exec.Command(bin, args...), logs: &testutil.SyncBuffer{}, done: make(chan error, 1)}
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("xmppd %s output:\n%s", strings.Join(args, " "), p.logs)
		}
	})
	return p
}

// wait returns the exit error, or fails after d.
func (p *xmppdProcess) wait(t *testing.T, d time.Duration) error {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err // for the cleanup
		return err
	case <-time.After(d):
		t.Fatalf("xmppd still running after %v", d)
	}
	return nil
}

func TestGoSendxmpp(t *testing.T) {
	if _, err := exec.LookPath("go-sendxmpp"); err != nil {
		t.Fatal("go-sendxmpp is missing: run make integration as root, which installs it")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "xmppd")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	helper, err := filepath.Abs("../../testscripts/misbehave.py")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("a broken helper refuses to start", func(t *testing.T) {
		for _, tt := range []struct {
			cmd   []string
			cause string
		}{{[]string{"/nonexistent/helper"}, "no such file"}, {[]string{helper, "--crash-at-start"}, "exited with status 1"}} {
			cmd := tt.cmd
			p := startXmppd(t, bin, append([]string{"--listen", "127.0.0.1:0", "--domain", "example.com", "--timeout", "1s", "--"}, cmd...)...)
			err := p.wait(t, 15*time.Second)
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(p.logs.String(), "cannot answer") || !strings.Contains(p.logs.String(), tt.cause) {
				t.Errorf("%v: exit %v, want 1 and a refusal that says %q:\n%s", cmd, err, tt.cause, p.logs)
			}
			if strings.Contains(p.logs.String(), "listening") {
				t.Errorf("%v: it listened", cmd)
			}
		}
	})

	pidfile := filepath.Join(dir, "helpers.pids")
	const loginTimeout = 2 * time.Second
	srv := startXmppd(t, bin, "--listen", "127.0.0.1:0", "--domain", "example.com", "--processes", "2",
		"--timeout", "1s", "--login-timeout", loginTimeout.String(), "--", helper, "--pidfile", pidfile)
	addrRE := regexp.MustCompile(`msg="xmppd listening" addr=(\S+)`)
	within(t, "xmppd to listen", func() bool { return addrRE.MatchString(srv.logs.String()) })
	addr := addrRE.FindStringSubmatch(srv.logs.String())[1]

	sendxmpp := func(user, password, to, message string) (ok bool, out string, took time.Duration) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go-sendxmpp", "-n", "-u", user, "-p", password, "-j", addr, to)
		cmd.Stdin = strings.NewReader(message)
		var b bytes.Buffer
		cmd.Stdout, cmd.Stderr = &b, &b
		start := time.Now()
		err := cmd.Run()
		took = time.Since(start)
		if ctx.Err() != nil {
			t.Fatalf("go-sendxmpp as %s hung", user)
		}
		var exit *exec.ExitError
		if err != nil && (!errors.As(err, &exit) || exit.ExitCode() != 1) {
			t.Fatalf("go-sendxmpp as %s: %v\n%s", user, err, b.String())
		}
		return err == nil, b.String(), took
	}

	// Bob listens; a message to him must reach him.
	bobOut := &testutil.SyncBuffer{}
	bob := exec.Command("go-sendxmpp", "-l", "-n", "-u", "bob@example.com", "-p", "builder", "-j", addr)
	bob.Stdout, bob.Stderr = bobOut, bobOut
	if err := bob.Start(); err != nil {
		t.Fatal(err)
	}
	bobDone := make(chan error, 1)
	go func() { bobDone <- bob.Wait() }()
	t.Cleanup(func() {
		select {
		case <-bobDone:
		default:
			bob.Process.Kill()
			<-bobDone
		}
	})
	within(t, "bob's session", func() bool {
		return regexp.MustCompile(`msg="session started" .*jid=bob@example.com/`).MatchString(srv.logs.String())
	})

	message := fmt.Sprintf("hello bob,  from the integration test %d", time.Now().UnixNano())
	if ok, out, _ := sendxmpp("alice@example.com", "wonderland", "bob@example.com", message); !ok {
		t.Errorf("right password refused:\n%s", out)
	}
	within(t, "bob to receive the message", func() bool {
		return strings.Contains(bobOut.String(), "alice@example.com: "+message)
	})

	if ok, out, _ := sendxmpp("alice@example.com", "guess", "bob@example.com", "no"); ok || !strings.Contains(out, "not-authorized") {
		t.Errorf("wrong password: logged in %v, want exit 1 with not-authorized:\n%s", ok, out)
	}
	ok, out, took := sendxmpp("hang@example.com", "whatever", "bob@example.com", "no")
	if ok || !strings.Contains(out, "temporary-auth-failure") {
		t.Errorf("hung helper: logged in %v, want exit 1 with temporary-auth-failure:\n%s", ok, out)
	}
	if took > loginTimeout+3*time.Second {
		t.Errorf("hung helper: answered after %v, login timeout %v", took, loginTimeout)
	}
	if ok, out, _ := sendxmpp("alice@other.org", "wonderland", "bob@example.com", "no"); ok {
		t.Errorf("unknown domain served:\n%s", out)
	}
	if !strings.Contains(srv.logs.String(), `msg="stream refused: domain not hosted"`) {
		t.Error("unknown domain: no refusal in the log")
	}
	if strings.Contains(srv.logs.String(), "guess") {
		t.Error("a password reached the log")
	}

	// SIGTERM: bob's session is ended, xmppd exits 0, no helper is left,
	// the hung one's replacement included.
	pidRE := regexp.MustCompile(`(?m)^helper (\d+)$`)
	within(t, "the hung helper's replacement", func() bool {
		b, _ := os.ReadFile(pidfile)
		return len(pidRE.FindAllString(string(b), -1)) >= 3
	})
	srv.cmd.Process.Signal(syscall.SIGTERM)
	if err := srv.wait(t, 20*time.Second); err != nil {
		t.Errorf("xmppd exit after SIGTERM: %v", err)
	}
	if !regexp.MustCompile(`msg="session ended" .*jid=bob@example.com/`).MatchString(srv.logs.String()) {
		t.Error("bob's session was not ended")
	}
	b, err := os.ReadFile(pidfile)
	if err != nil {
		t.Fatal(err)
	}
	pids := pidRE.FindAllStringSubmatch(string(b), -1)
	for _, m := range pids {
		pid, _ := strconv.Atoi(m[1])
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("helper %d still there after SIGTERM (kill 0: %v)", pid, err)
		}
	}
}
