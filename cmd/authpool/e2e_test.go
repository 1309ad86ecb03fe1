package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Passwords used below all contain this marker, so TestZZPasswordsNeverLogged
// can look for any of them in every daemon's debug output.
const secretMark = "S3cr3t"

func TestSamplesAnswer(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"python", []string{"--", scripts(t, "sample.py")}},
		{"perl", []string{"--", scripts(t, "sample.pl")}},
		{"sh", []string{"--", scripts(t, "sample.sh")}},
		// Never flushes: only a pty makes its stdout line buffered.
		{"unflushed python", []string{"--", scripts(t, "unflushed.py")}},
		{"command flag", []string{"--command", "'" + scripts(t, "sample.py") + "' " + scripts(t, "demo-users.txt")}},
		{"pipe", []string{"--transport", "pipe", "--", scripts(t, "sample.py")}},
		{"ejabberd", []string{"--protocol", "ejabberd", "--", scripts(t, "ejabberd.py")}},
		{"nonblocking", []string{"--mode", "nonblocking", "--processes", "2", "--", scripts(t, "sample.py")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := startDaemon(t, tt.args...).dial()
			got := c.ask(
				"auth:alice:example.com:wonderland",
				"auth:alice:example.com:"+secretMark+"-wrong",
				"auth:carol:example.com:a:b:c",
				"auth:dave:example.com:pässwörd€",
				"isuser:bob:example.com",
				"isuser:nobody:example.com",
				"auth:alice:example.com:",
			)
			if want := "1 0 1 1 1 0 0"; strings.Join(got, " ") != want {
				t.Fatalf("answers %v, want %s", got, want)
			}
		})
	}
}

func TestPasswordBytesReachHelperUnchanged(t *testing.T) {
	expect := filepath.Join(t.TempDir(), "expect")
	c := startDaemon(t, "--env", "AUTHPOOL_TEST_EXPECT="+expect, "--", scripts(t, "misbehave.py")).dial()
	for _, pw := range []string{
		secretMark + ":with:colons:",
		secretMark + "\x03\x04\x13\x1a\x7f",
		secretMark + "\x03",
		secretMark + "\x1c\x15\x17\x11\x13\x04",
		secretMark + strings.Repeat("x", 6000),
		secretMark + "\xff\xfe invalid utf-8",
	} {
		if err := os.WriteFile(expect, []byte(pw), 0o600); err != nil {
			t.Fatal(err)
		}
		c.want("auth:echo:example.com:"+pw, "1")
		c.want("auth:echo:example.com:"+pw+"x", "0")
	}
}

// TestMisbehavingHelpers: whatever a helper does wrong fails only the
// request it was answering; nothing it says late or extra reaches another
// request; the next request is answered.
func TestMisbehavingHelpers(t *testing.T) {
	tests := []struct {
		user  string
		want  string
		pause bool // wait for late or extra output to arrive while idle
	}{
		{"hang", "0", false},
		{"late", "0", true},
		{"crash", "0", false},
		{"kill9", "0", false},
		{"garbage", "0", false},
		{"double", "0", true},
		{"double1", "0", false},
		{"noise", "1", false},
		{"split", "1", false},
		{"crlf", "1", false},
	}
	for _, mode := range []string{"blocking", "nonblocking"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			// Every request after a misbehaving one goes to a fresh
			// helper, whose caller waits --timeout for it to start and
			// answer (a loaded machine has taken over a second to start
			// Python); the helper has --start-timeout more before it is
			// replaced, so "late" must be later than both. Three of these
			// are caught out of step within the minute: more than the
			// default limit, which TestStrayAnswersDistrustHelpers tests.
			c := startDaemon(t, "--mode", mode, "--timeout", "2s", "--start-timeout", "100ms", "--out-of-step-limit", "10", "--",
				scripts(t, "misbehave.py"), "--late-seconds", "2.5").dial()
			for _, tt := range tests {
				c.want(fmt.Sprintf("auth:%s:example.com:%s", tt.user, tt.user), tt.want)
				if tt.pause {
					time.Sleep(time.Second)
				}
				c.want("auth:alice:example.com:"+secretMark, "0")
				c.want("auth:alice:example.com:wonderland", "1")
			}
		})
	}
}

func TestStderrNoiseIsNotAnAnswer(t *testing.T) {
	d := startDaemon(t, "--", scripts(t, "misbehave.py"), "--stderr-noise")
	c := d.dial()
	for range 5 {
		c.want("auth:alice:example.com:"+secretMark, "0")
		c.want("isuser:nobody:example.com", "0")
	}
	within(t, "stderr in the log", func() bool { return strings.Contains(d.logs.String(), "helper stderr") })
}

// TestParallelHelpers: four helpers in non-blocking mode answer 600 mixed
// requests from many connections correctly, and do work at the same time.
func TestParallelHelpers(t *testing.T) {
	dir := t.TempDir()
	trace := filepath.Join(dir, "trace")
	// A sample helper that also records, per request, its pid and when it
	// started and finished, so overlap between helpers can be seen.
	helper := filepath.Join(dir, "traced.py")
	os.WriteFile(helper, []byte(`#!/usr/bin/env python3
import os, sys, time
users = {b"alice": b"wonderland", b"carol": b"a:b:c"}
log = open(sys.argv[1], "a")
for line in sys.stdin.buffer:
    start = time.monotonic_ns()
    f = line.rstrip(b"\n").split(b":", 3)
    ok = len(f) >= 3 and f[1] in users and (f[0] == b"isuser" or (len(f) == 4 and f[3] == users[f[1]]))
    time.sleep(0.002)
    log.write("%d %d %d\n" % (os.getpid(), start, time.monotonic_ns()))
    log.flush()
    sys.stdout.write("1\n" if ok else "0\n")
    sys.stdout.flush()
`), 0o755)
	// Each request asked once: a new helper's first yes answers are
	// otherwise asked twice.
	d := startDaemon(t, append(noPenalties, "--mode", "nonblocking", "--processes", "4", "--queue", "600", "--no-confirm-yes", "--", helper, trace)...)
	if err := os.Truncate(trace, 0); err != nil { // the start-up probe's line
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 600)
	for conn := range 12 {
		wg.Go(func() {
			c := d.dial()
			var lines, want []string
			for i := range 50 {
				n := conn*50 + i
				switch n % 4 {
				case 0:
					lines, want = append(lines, "auth:alice:example.com:wonderland"), append(want, "1")
				case 1:
					lines, want = append(lines, fmt.Sprintf("auth:alice:example.com:%s%d", secretMark, n)), append(want, "0")
				case 2:
					lines, want = append(lines, "auth:carol:example.com:a:b:c"), append(want, "1")
				case 3:
					lines, want = append(lines, "isuser:carol:example.com"), append(want, "1")
				}
			}
			got := c.ask(lines...)
			for i := range got {
				if got[i] != want[i] {
					errs <- fmt.Sprintf("conn %d request %d (%q): %s, want %s", conn, i, lines[i], got[i], want[i])
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	type span struct{ pid, start, end int64 }
	var spans []span
	for _, line := range strings.Split(strings.TrimSpace(readFile(t, trace)), "\n") {
		var s span
		fmt.Sscan(line, &s.pid, &s.start, &s.end)
		spans = append(spans, s)
	}
	if len(spans) != 600 {
		t.Fatalf("helpers answered %d requests, want 600", len(spans))
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].start < spans[j].start })
	overlaps, pidsSeen := 0, map[int64]bool{}
	for i, s := range spans {
		pidsSeen[s.pid] = true
		if i > 0 && spans[i-1].end > s.start && spans[i-1].pid != s.pid {
			overlaps++
		}
	}
	if len(pidsSeen) != 4 || overlaps < 50 {
		t.Fatalf("%d helpers served, %d overlapping requests: not in parallel", len(pidsSeen), overlaps)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestPipelinedInOrder(t *testing.T) {
	c := startDaemon(t, append(noPenalties, "--processes", "3", "--", scripts(t, "sample.py"))...).dial()
	var lines []string
	var want []string
	for i := range 300 {
		if i%2 == 0 {
			lines, want = append(lines, "auth:bob:example.com:builder"), append(want, "1")
		} else {
			lines, want = append(lines, "auth:bob:example.com:"+secretMark+strconv.Itoa(i)), append(want, "0")
		}
	}
	if got := c.ask(lines...); strings.Join(got, "") != strings.Join(want, "") {
		t.Fatalf("pipelined answers out of order:\n got %v\nwant %v", got, want)
	}
}

func TestBadRequestsAnswerZero(t *testing.T) {
	c := startDaemon(t, "--", scripts(t, "sample.py")).dial()
	for _, line := range []string{
		"",
		"garbage",
		"auth:alice",
		"auth:alice:example.com",
		"auth:al:ice:example.com",
		"isuser:alice:example.com:" + secretMark,
		"login:alice:example.com:wonderland",
		"auth::example.com:" + secretMark,
		"auth:alice:example.com:" + secretMark + "\x00",
		"auth:alice:example.com:" + secretMark + strings.Repeat("y", 70000),
	} {
		c.want(line, "0")
	}
	c.want("auth:alice:example.com:wonderland", "1")
}

func TestCrashLoopFailsFast(t *testing.T) {
	dir := t.TempDir()
	pidfile, gate := filepath.Join(dir, "pids"), filepath.Join(dir, "gate")
	d := startDaemon(t, "--processes", "2", "--timeout", "1m", "--", scripts(t, "crashloop.sh"), pidfile, gate)
	writeFile(t, gate, "") // from now on, every helper dies at once
	c := d.dial()
	// The first requests meet helpers that die under them; once every slot
	// has failed three times in a row, requests are refused without
	// waiting. With a one-minute timeout, a prompt "0" can only come from
	// that (ask's own deadline is 30s).
	within(t, "requests refused as unavailable", func() bool {
		c.want("auth:alice:example.com:wonderland", "0")
		return strings.Contains(d.logs.String(), "no helper available")
	})
	before := len(pids(t, pidfile))
	time.Sleep(time.Second)
	if n := len(pids(t, pidfile)) - before; n > 12 {
		t.Fatalf("%d helper starts in one second: spinning", n)
	}
}

func TestSIGTERMLeavesNothingBehind(t *testing.T) {
	pidfile := filepath.Join(t.TempDir(), "pids")
	d := startDaemon(t, "--processes", "2", "--", scripts(t, "misbehave.py"), "--ignore-sigterm", "--grandchild", pidfile)
	c := d.dial()
	c.want("auth:alice:example.com:wonderland", "1")
	within(t, "both helpers and grandchildren", func() bool { return len(pids(t, pidfile)) >= 4 })
	all := pids(t, pidfile)
	d.stop()
	if d.exitErr != nil {
		t.Fatalf("daemon exit: %v\n%s", d.exitErr, d.logs.String())
	}
	for _, pid := range all {
		within(t, fmt.Sprintf("process %d to be gone", pid), func() bool { return !alive(pid) })
	}
	if _, err := os.Stat(d.socket); !os.IsNotExist(err) {
		t.Fatalf("socket left behind: %v", err)
	}
}

func TestStartupErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no command", []string{"serve"}, "no helper command"},
		{"both commands", []string{"serve", "--command", "x", "--", "y"}, "not both"},
		{"bad protocol", []string{"serve", "--protocol", "xmpp", "--", "x"}, "--protocol"},
		{"bad mode", []string{"serve", "--mode", "fast", "--", "x"}, "--mode"},
		{"bad quote", []string{"serve", "--command", "'unterminated"}, "--command"},
		{"world-writable", []string{"serve", "--socket-mode", "0666", "--", "x"}, "world-writable"},
		{"bad env", []string{"serve", "--env", "NOEQUALS", "--", "x"}, "KEY=VALUE"},
		{"unknown subcommand", []string{"frob"}, "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := logBuffer(t)
			args := tt.args
			if args[0] == "serve" {
				args = append([]string{"serve", "--socket", filepath.Join(t.TempDir(), "s")}, args[1:]...)
			}
			if code := run(t.Context(), args, strings.NewReader(""), out, out); code == 0 {
				t.Fatalf("exit 0; output %s", out.String())
			}
			if !strings.Contains(out.String(), tt.want) {
				t.Fatalf("output %q does not mention %q", out.String(), tt.want)
			}
		})
	}
}

func TestSecondDaemonRefused(t *testing.T) {
	d := startDaemon(t, "--", scripts(t, "sample.py"))
	out := logBuffer(t)
	code := run(t.Context(), []string{"serve", "--socket", d.socket, "--", scripts(t, "sample.py")}, strings.NewReader(""), out, out)
	if code == 0 || !strings.Contains(out.String(), "another process is serving") {
		t.Fatalf("second daemon: exit %d, %s", code, out.String())
	}
	d.dial().want("auth:alice:example.com:wonderland", "1")
}

func TestCheckCommand(t *testing.T) {
	d := startDaemon(t, "--", scripts(t, "sample.py"))
	tests := []struct {
		args  []string
		stdin string
		code  int
	}{
		{[]string{"auth", "alice", "example.com"}, "wonderland\n", 0},
		{[]string{"auth", "alice", "example.com"}, "wonderland", 0},
		{[]string{"auth", "alice", "example.com"}, secretMark + "\n", 1},
		{[]string{"auth", "carol", "example.com"}, "a:b:c\r\n", 0},
		{[]string{"isuser", "bob", "example.com"}, "", 0},
		{[]string{"isuser", "zed", "example.com"}, "", 1},
		{[]string{"auth", "al:ice", "example.com"}, "x", 2},
		{[]string{"tryregister", "bob", "example.com"}, "x", 2},
		{[]string{"auth", "alice"}, "", 2},
	}
	for _, tt := range tests {
		out, errOut := logBuffer(t), logBuffer(t)
		args := append([]string{"check", "--socket", d.socket}, tt.args...)
		if code := run(t.Context(), args, strings.NewReader(tt.stdin), out, errOut); code != tt.code {
			t.Errorf("check %v: exit %d, want %d (%s%s)", tt.args, code, tt.code, out.String(), errOut.String())
		}
		if strings.Contains(out.String()+errOut.String(), secretMark) {
			t.Errorf("check printed the password")
		}
	}
	out := logBuffer(t)
	args := []string{"check", "--socket", filepath.Join(t.TempDir(), "none"), "isuser", "a", "b"}
	if code := run(t.Context(), args, strings.NewReader(""), out, out); code != 2 {
		t.Errorf("check with no daemon: exit %d", code)
	}
}

// A timeout is not a wrong password: check says why it could not check.
func TestCheckSaysWhyItCouldNotCheck(t *testing.T) {
	d := startDaemon(t, "--timeout", "500ms", "--", scripts(t, "misbehave.py"))
	out, errOut := logBuffer(t), logBuffer(t)
	args := []string{"check", "--socket", d.socket, "auth", "hang", "example.com"}
	if code := run(t.Context(), args, strings.NewReader("x"), out, errOut); code != 2 || !strings.Contains(errOut.String(), "timed out") {
		t.Errorf("check on a hung helper: exit %d, stdout %q, stderr %q; want 2 and the reason", code, out.String(), errOut.String())
	}
	if out.String() != "" {
		t.Errorf("check printed %q for a request it could not check", out.String())
	}
}

// TestOverload floods a non-blocking daemon far beyond its capacity: what
// does not fit in the queue is refused at once (before any admitted request
// is answered), every admitted request is answered right, and the daemon
// serves normally when the flood stops, and again after a second flood.
func TestOverload(t *testing.T) {
	d := startDaemon(t, append(noPenalties, "--mode", "nonblocking", "--processes", "2", "--queue", "4", "--timeout", "5s",
		"--", scripts(t, "misbehave.py"), "--slow-seconds", "0.2")...)
	c := d.dial()
	warm := c.ask("1 isuser:bob:example.com", "2 isuser:alice:example.com")
	if warm[0] != "1 1" && warm[0] != "2 1" {
		t.Fatalf("warm-up: %q", warm)
	}
	for round := range 2 {
		var flood []string
		for i := range 100 {
			flood = append(flood, fmt.Sprintf("%d auth:slow:example.com:slow", 1000*round+i))
		}
		answers := c.ask(flood...)
		refused, admitted := 0, 0
		for i, a := range answers {
			_, result, _ := strings.Cut(a, " ")
			switch {
			case strings.HasPrefix(result, "error overloaded"):
				if admitted > 0 {
					t.Fatalf("round %d: answer %d is a refusal after an admitted answer: refusals were not at once", round, i)
				}
				refused++
			case result == "1":
				admitted++
			default:
				t.Fatalf("round %d: answer %q", round, a)
			}
		}
		// Four queued, and up to two more taken by the helpers' workers if
		// they dequeue while the flood is being read (on a loaded machine
		// they may not get a CPU before the queue is full), give or take
		// the requests that finish meanwhile.
		if admitted < 4 || admitted > 20 || refused+admitted != 100 {
			t.Fatalf("round %d: %d admitted, %d refused", round, admitted, refused)
		}
		c.want("auth:alice:example.com:wonderland", "1")
		c.want("auth:alice:example.com:"+secretMark, "0")
	}
}
