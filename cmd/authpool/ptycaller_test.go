package main

import (
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// ptyCaller runs authpool-connect the way Prosody's mod_auth_external runs
// its helper through lpty, faults included: one pty for stdin, stdout and
// stderr, left in its default (cooked) mode but for ECHO and ICANON, which
// are cleared only once the child is running; the command is a bare path
// with no arguments; each request is written at once and answered by ONE
// read with the caller's timeout, whatever that read returns.
// (make integration drives the real lpty from Lua the same way.)
type ptyCaller struct {
	t       *testing.T
	master  *os.File
	timeout time.Duration
	cmd     *exec.Cmd
	done    chan error
}

// connectLink is a link named authpool-connect to the test binary, which
// runs main (and so connect, by that name) when mainEnv is set.
func connectLink(t *testing.T) string {
	t.Helper()
	link := filepath.Join(t.TempDir(), connectName)
	if err := os.Symlink(os.Args[0], link); err != nil {
		t.Fatal(err)
	}
	return link
}

// startPTYCaller starts authpool-connect under a fresh pty with the given
// AUTHPOOL_* environment. early is written to the pty before the child
// starts, while the pty still echoes: lpty's race at its worst.
func startPTYCaller(t *testing.T, timeout time.Duration, env []string, early string) *ptyCaller {
	t.Helper()
	master, slave, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	// pty.Open leaves the master blocking, where deadlines do nothing.
	rc, err := master.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	rc.Control(func(fd uintptr) { err = unix.SetNonblock(int(fd), true) })
	if err != nil {
		t.Fatal(err)
	}
	c := &ptyCaller{t: t, master: master, timeout: timeout, done: make(chan error, 1)}
	if early != "" {
		c.write(early)
	}
	c.cmd = exec.Command(connectLink(t))
	c.cmd.Env = append(append(os.Environ(), mainEnv+"=1", "AUTHPOOL_CONNECT_CONFIG=/dev/null"), env...)
	c.cmd.Stdin, c.cmd.Stdout, c.cmd.Stderr = slave, slave, slave
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// lpty's no_local_echo, done in its child after fork: the exec above
	// has begun, so this races with the child's start just as lpty's does.
	tio, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	tio.Lflag &^= unix.ECHO | unix.ICANON
	if err := unix.IoctlSetTermios(int(slave.Fd()), unix.TCSETS, tio); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	go func() { c.done <- c.cmd.Wait() }()
	t.Cleanup(func() {
		master.Close() // a hangup for the child, as when Prosody stops
		select {
		case <-c.done:
		case <-time.After(20 * time.Second):
			c.cmd.Process.Kill()
			t.Error("authpool-connect did not exit when its pty closed")
		}
	})
	return c
}

// warmUp waits until connect has made the pty raw, then asks one question
// whose answer is no and tolerates it being discarded as early input:
// afterwards the caller and connect are in step.
func (c *ptyCaller) warmUp() {
	c.t.Helper()
	c.waitRaw()
	if v := verdict(c.query("isuser:zed:example.com", c.timeout)); v != "no" && v != "timeout" {
		c.t.Fatalf("warm-up question answered %s", v)
	}
}

// waitRaw waits until connect has made the pty raw (termios requests on a
// master act on its slave).
func (c *ptyCaller) waitRaw() {
	c.t.Helper()
	rc, err := c.master.SyscallConn()
	if err != nil {
		c.t.Fatal(err)
	}
	within(c.t, "connect to make its pty raw", func() bool {
		raw := false
		rc.Control(func(fd uintptr) {
			tio, err := unix.IoctlGetTermios(int(fd), unix.TCGETS)
			raw = err == nil && tio.Oflag&unix.OPOST == 0
		})
		return raw
	})
}

func (c *ptyCaller) write(s string) {
	c.t.Helper()
	if _, err := c.master.Write([]byte(s)); err != nil {
		c.t.Fatal(err)
	}
}

// query writes one request and returns what one read brings within wait:
// "" when nothing came.
func (c *ptyCaller) query(line string, wait time.Duration) string {
	c.t.Helper()
	c.write(line + "\n")
	c.master.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 4096) // lpty's READER_BUFSIZ
	n, err := c.master.Read(buf)
	if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		c.t.Fatalf("reading the pty: %v", err)
	}
	return string(buf[:n])
}

// verdict reads a response as mod_auth_external does: a trailing "\r?\n"
// is dropped, then "1" is yes, "0" no, and anything else unreadable.
func verdict(response string) string {
	switch strings.TrimSuffix(strings.TrimSuffix(response, "\n"), "\r") {
	case "1":
		return "yes"
	case "0":
		return "no"
	case "":
		if response == "" {
			return "timeout"
		}
	}
	return "unreadable"
}

// mixed is n requests with known answers: right and wrong passwords,
// known and unknown users, passwords with colons, control bytes and UTF-8.
func mixed(n int, rng *rand.Rand) (lines, want []string) {
	cases := []struct{ line, want string }{
		{"auth:alice:example.com:wonderland", "yes"},
		{"auth:alice:example.com:" + secretMark, "no"},
		{"auth:bob:example.com:builder", "yes"},
		{"auth:bob:example.com:wonderland", "no"},
		{"auth:carol:example.com:a:b:c", "yes"},
		{"auth:carol:example.com:a:b", "no"},
		{"auth:dave:example.com:pässwörd€", "yes"},
		{"auth:dave:example.com:\x03\x1a\x1c\x7f\x15", "no"},
		{"isuser:bob:example.com", "yes"},
		{"isuser:zed:example.com", "no"},
	}
	for range n {
		c := cases[rng.IntN(len(cases))]
		lines, want = append(lines, c.line), append(want, c.want)
	}
	return lines, want
}

// run asks every line and counts answers that are wrong or unreadable.
func (c *ptyCaller) run(lines, want []string) {
	c.t.Helper()
	var wrong, unreadable, timeouts int
	for i, line := range lines {
		response := c.query(line, c.timeout)
		got := verdict(response)
		if got == want[i] && response != "1\n" && response != "0\n" {
			// Read as meant this time, but not one clean answer: "\r\n"
			// can arrive apart, and then the next request reads "\r\n".
			c.t.Errorf("request %d: response %q, want exactly one answer", i, response)
		}
		switch {
		case got == want[i]:
		case got == "unreadable":
			unreadable++
		case got == "timeout":
			timeouts++
		default:
			wrong++
			c.t.Errorf("request %d %.40q: %s, want %s", i, line, got, want[i])
		}
	}
	if wrong+unreadable+timeouts > 0 {
		c.t.Errorf("%d requests: %d wrong, %d unreadable, %d timed out", len(lines), wrong, unreadable, timeouts)
	}
}

func TestConnectUnderCallerPTY(t *testing.T) {
	socket := filepath.Join(t.TempDir(), "authpool.sock")
	// noPenalties: hundreds of logins of four users, wrong ones among
	// them, with no address.
	startDaemonOn(t, socket, append(noPenalties, "--processes", "2", "--", scripts(t, "sample.py"))...)
	env := []string{"AUTHPOOL_SOCKET=" + socket, "AUTHPOOL_LOG_LEVEL=debug"}
	rng := rand.New(rand.NewPCG(1, 2))

	// The first request arrives while the pty still echoes. The caller
	// reads the echo as its answer (unreadable, or nothing): connect must
	// not answer that request too, or every later answer is one late.
	t.Run("first request before the child starts", func(t *testing.T) {
		// Were it answered, its yes would be read for the warm-up's no.
		c := startPTYCaller(t, 5*time.Second, env, "isuser:bob:example.com\n")
		c.master.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 4096)
		n, _ := c.master.Read(buf)
		for _, line := range strings.Split(string(buf[:n]), "\n") {
			if v := verdict(line + "\n"); v == "yes" || v == "no" {
				t.Fatalf("the early request was answered: %q", buf[:n])
			}
		}
		// Nothing follows the echo: the early request is not answered.
		c.waitRaw()
		c.master.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		if n, _ := c.master.Read(buf); n > 0 {
			t.Fatalf("the early request was answered: %q", buf[:n])
		}
		// The caller may go on at once; a signal character before connect
		// has made the pty raw would kill it, which nothing can prevent.
		c.warmUp()
		c.run(mixed(300, rng))
	})
	t.Run("first request right after start", func(t *testing.T) {
		c := startPTYCaller(t, 5*time.Second, env, "")
		if v := verdict(c.query("isuser:bob:example.com", 5*time.Second)); v == "no" {
			t.Fatalf("first request right after start: %s", v)
		}
		c.warmUp()
		c.run(mixed(300, rng))
	})

	t.Run("logs never reach the pty, and go to --log-file", func(t *testing.T) {
		logFile := filepath.Join(t.TempDir(), "connect.log")
		c := startPTYCaller(t, 5*time.Second, append(env, "AUTHPOOL_LOG_FILE="+logFile), "")
		c.warmUp()
		// Malformed requests log at warn, answers at debug.
		c.run([]string{"auth:al:ice:example.com:x", "hello", "auth:alice:example.com:wonderland"}, []string{"no", "no", "yes"})
		b, err := os.ReadFile(logFile)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "request refused") || !strings.Contains(string(b), "request answered") {
			t.Errorf("log file lacks the refusal or the debug lines:\n%s", b)
		}
		if strings.Contains(string(b), "wonderland") {
			t.Errorf("a password reached the log file:\n%s", b)
		}
	})
}

// A daemon outage, a hung helper, or a caller that gives up first: no
// answer may ever arrive after the caller stopped waiting for it.
func TestConnectUnderCallerPTYNeverLate(t *testing.T) {
	socket := filepath.Join(t.TempDir(), "authpool.sock")
	daemonArgs := append(noPenalties, "--processes", "2", "--timeout", "5s", "--", scripts(t, "misbehave.py"))
	d := startDaemonOn(t, socket, daemonArgs...)
	outer := t
	rng := rand.New(rand.NewPCG(3, 4))
	env := []string{"AUTHPOOL_SOCKET=" + socket, "AUTHPOOL_TIMEOUT=700ms"}

	t.Run("daemon outage", func(t *testing.T) {
		c := startPTYCaller(t, 2*time.Second, env, "")
		c.warmUp()
		d.stop()
		// Longer than the caller's timeout: each answer is no, in time.
		for range 3 {
			if v := verdict(c.query("auth:alice:example.com:wonderland", 2*time.Second)); v != "no" {
				t.Fatalf("daemon down: %s, want no", v)
			}
		}
		d = startDaemonOn(outer, socket, daemonArgs...)
		// The new helpers may miss connect's short timeout while they
		// start on a loaded machine: that is a no, in step.
		within(t, "answers to resume", func() bool {
			v := verdict(c.query("isuser:bob:example.com", 2*time.Second))
			if v != "yes" && v != "no" {
				t.Fatalf("while the daemon starts: %s", v)
			}
			return v == "yes"
		})
		c.run(mixed(100, rng))
	})

	t.Run("hung helper", func(t *testing.T) {
		c := startPTYCaller(t, 2*time.Second, env, "")
		c.warmUp()
		if v := verdict(c.query("auth:hang:example.com:x", 2*time.Second)); v != "no" {
			t.Fatalf("hung helper: %s, want no", v)
		}
		c.run(mixed(100, rng))
	})

	// The caller's timeout is shorter than connect's: it gives up and asks
	// the next user's question before connect answers the first. That
	// answer must never be written: the caller would read it as the
	// answer to the second question, and the second's as the third's.
	t.Run("caller gives up first", func(t *testing.T) {
		c := startPTYCaller(t, 5*time.Second, env, "")
		c.warmUp()
		if got := c.query("auth:late:example.com:x", 200*time.Millisecond); got != "" {
			t.Fatalf("an answer came before the late helper's: %q", got)
		}
		c.run([]string{"auth:alice:example.com:wonderland", "auth:alice:example.com:" + secretMark}, []string{"yes", "no"})
		c.run(mixed(50, rng))
	})
}

// A person who runs "authpool connect -h" at a terminal gets the usage and
// their terminal as it was: not raw, and nothing discarded.
func TestConnectHelpLeavesTheTerminal(t *testing.T) {
	master, slave, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	defer slave.Close()
	before, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "connect", "-h")
	cmd.Env = append(os.Environ(), mainEnv+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	go io.Copy(io.Discard, master) // the usage, so the child never blocks on a full pty
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("connect -h: %v", err)
		}
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatal("connect -h did not exit")
	}
	after, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if after.Lflag != before.Lflag || after.Oflag != before.Oflag || after.Iflag != before.Iflag {
		t.Errorf("connect -h changed the terminal: lflag %#x -> %#x, oflag %#x -> %#x", before.Lflag, after.Lflag, before.Oflag, after.Oflag)
	}
}
