package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authpool/authpool/internal/testutil"
)

func init() {
	// Doctor's own passwords (the canary, the wrong one) carry the mark
	// every test password carries: the scan in TestMain fails the run if
	// any output shows one.
	newDoctorSecret = func() string {
		var b [8]byte
		rand.Read(b[:])
		return secretMark + hex.EncodeToString(b[:])
	}
}

// runDoctor runs "authpool doctor args" in this process with stdin, and
// returns its exit code, stdout and stderr; a run must end within bound.
func runDoctor(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	out, errOut := logBuffer(t), logBuffer(t)
	done := make(chan int, 1)
	go func() {
		done <- run(t.Context(), append([]string{"doctor"}, args...), strings.NewReader(stdin), out, errOut)
	}()
	select {
	case code := <-done:
		return code, out.String(), errOut.String()
	case <-time.After(2 * time.Minute):
		t.Fatalf("doctor %q did not finish", args)
	}
	return 0, "", ""
}

// doctorJSON is what the tests read of doctor's JSON report.
type doctorJSON struct {
	Fit      bool      `json:"fit"`
	Findings []finding `json:"findings"`
	Passed   []string  `json:"passed"`
}

// text is everything the report says, in words.
func (r doctorJSON) text() string {
	var b strings.Builder
	for _, f := range r.Findings {
		b.WriteString(f.What + "\n" + f.Fix + "\n" + strings.Join(f.Stderr, "\n") + "\n")
	}
	return b.String() + strings.Join(r.Passed, "\n")
}

// findingKeys are the IDs of rep's findings with their severity, "id" for
// a problem and "id?" for a warning, as a test states them.
func findingKeys(rep doctorJSON) []string {
	var keys []string
	for _, f := range rep.Findings {
		k := string(f.ID)
		if f.Severity == warning {
			k += "?"
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// timing are the findings a loaded machine may add to any helper: a case
// about something else does not count them.
var timing = []string{"slow_start?", "slow_answer?"}

// TestDoctorScripts runs doctor on every helper in testscripts/, the good
// ones and each misbehaving one, and on broken helpers made here: each
// gets exactly the findings it deserves, the good ones none, and the exit
// status follows.
func TestDoctorScripts(t *testing.T) {
	dir := t.TempDir()
	script := func(name, text string, mode os.FileMode) string { return testutil.Script(t, dir, name, text, mode) }
	users := filepath.Join(dir, "users.txt")
	data, err := os.ReadFile(scripts(t, "demo-users.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(users, data, 0o600); err != nil {
		t.Fatal(err)
	}
	pidfile := func(name string) string { return filepath.Join(dir, name+".pids") }
	// Timeouts short enough for the cases that wait them out. fast is for
	// helpers that never answer their first request, and the slow
	// starter; other gives a start-up on a loaded machine time.
	fast := []string{"--timeout", "300ms", "--start-timeout", "300ms"}
	other := []string{"--timeout", "300ms", "--start-timeout", "4s"}
	slow := []string{"--timeout", "5s"}
	tests := []struct {
		name  string
		flags []string
		cmd   []string
		stdin string
		want  []string // findings: "id" a problem, "id?" a warning
		code  int
		pids  string // a pid file whose processes must all be gone
		in    string // also in the output
	}{
		// The good ones.
		{name: "sample.py", flags: slow, cmd: []string{scripts(t, "sample.py")}},
		{name: "sample.py as make run has it", flags: append([]string{"--processes", "2"}, slow...), cmd: []string{scripts(t, "sample.py"), users}},
		{name: "sample.py with --user", flags: append([]string{"--user", "alice@example.com"}, slow...), cmd: []string{scripts(t, "sample.py")}, stdin: "wonderland\n",
			in: "alice@example.com: yes to the password given"},
		{name: "sample.py over pipes", flags: append([]string{"--transport", "pipe"}, slow...), cmd: []string{scripts(t, "sample.py")}},
		{name: "sample.pl", flags: slow, cmd: []string{scripts(t, "sample.pl")}},
		{name: "sample.sh with --user", flags: append([]string{"--user", "carol@example.com"}, slow...), cmd: []string{scripts(t, "sample.sh")}, stdin: "a:b:c\n"},
		{name: "ejabberd.py", flags: append([]string{"--protocol", "ejabberd"}, slow...), cmd: []string{scripts(t, "ejabberd.py")}},
		{name: "unflushed.py under a pty", flags: slow, cmd: []string{scripts(t, "unflushed.py")}},
		{name: "misbehave.py", flags: slow, cmd: []string{scripts(t, "misbehave.py"), "--pidfile", pidfile("plain")}, pids: pidfile("plain")},
		{name: "misbehave.py, grandchild in its group", flags: slow, cmd: []string{scripts(t, "misbehave.py"), "--grandchild", pidfile("grandchild")}, pids: pidfile("grandchild")},
		{name: "misbehave.py, stderr noise", flags: slow, cmd: []string{scripts(t, "misbehave.py"), "--stderr-noise"}},
		{name: "leaky.py (memory: bench's to find)", flags: slow, cmd: []string{scripts(t, "leaky.py")}},
		{name: "wrong-under-load.py alone", flags: slow, cmd: []string{scripts(t, "wrong-under-load.py"), filepath.Join(dir, "scratch")}},
		{name: "chaos.py without faults (its isuser is yes for every user but x...)", flags: slow,
			cmd: []string{scripts(t, "chaos.py"), "--fault-rate", "0", "--log", filepath.Join(dir, "chaos.log")}, want: []string{"claims_absent_user?"}},

		// Cannot be executed.
		{name: "missing", cmd: []string{filepath.Join(dir, "no-such-helper")}, want: []string{"not_found"}, code: 1},
		{name: "relative, missing", cmd: []string{"helpers/no-such-helper"}, want: []string{"not_found"}, code: 1, in: "working directory"},
		{name: "not in PATH", cmd: []string{"authpool-no-such-helper"}, want: []string{"not_found"}, code: 1, in: "not found in $PATH"},
		{name: "not executable", cmd: []string{script("noexec.sh", "#!/bin/sh\n", 0o644)}, want: []string{"not_executable"}, code: 1, in: "chmod 755"},
		{name: "a directory", cmd: []string{dir}, want: []string{"not_executable"}, code: 1, in: "is a directory"},
		{name: "windows line ends", cmd: []string{script("crlf.sh", "#!/bin/sh\r\necho 0\r\n", 0o755)}, want: []string{"bad_shebang"}, code: 1, in: "Windows line ends"},
		{name: "no #! line", cmd: []string{script("noshebang.sh", "echo 0\n", 0o755)}, want: []string{"bad_shebang"}, code: 1},
		{name: "relative #! interpreter", cmd: []string{script("relshebang.py", "#!python3\n", 0o755)}, want: []string{"bad_shebang"}, code: 1, in: "not an absolute path"},
		{name: "missing interpreter", cmd: []string{script("nointerp.py", "#!/nonexistent/python3\n", 0o755)}, want: []string{"no_interpreter"}, code: 1, in: "/nonexistent/python3"},
		{name: "interpreter env cannot find", cmd: []string{script("envinterp.py", "#!/usr/bin/env authpool-no-such-python\n", 0o755)},
			want: []string{"no_interpreter"}, code: 1, in: "authpool-no-such-python, which its #! line has env look for"},

		// Starts, but no answer to its first request.
		{name: "crashloop.sh", flags: fast, cmd: []string{scripts(t, "crashloop.sh")}, want: []string{"exits_early"}, code: 1, in: "exited with status 1"},
		{name: "wrong-under-load.py without its argument", flags: fast, cmd: []string{scripts(t, "wrong-under-load.py")}, want: []string{"exits_early"}, code: 1,
			in: "usage: wrong-under-load.py SCRATCH_FILE"},
		{name: "misbehave.py --crash-at-start", flags: fast, cmd: []string{scripts(t, "misbehave.py"), "--crash-at-start", "--pidfile", pidfile("crash")},
			want: []string{"exits_early"}, code: 1, pids: pidfile("crash")},
		{name: "hangs", flags: fast, cmd: []string{script("hang.sh", "#!/bin/sh\nexec sleep 60\n", 0o755)}, want: []string{"no_answer"}, code: 1},
		{name: "no line end", flags: fast, cmd: []string{script("nolineend.sh", "#!/bin/sh\nread l; printf 1; exec sleep 60\n", 0o755)}, want: []string{"no_line_end"}, code: 1},
		{name: "junk", flags: fast, cmd: []string{script("junk.sh", "#!/bin/sh\nwhile read l; do echo yes; done\n", 0o755)}, want: []string{"junk"}, code: 1, in: `"yes\n"`},
		{name: "unflushed.py over pipes", flags: append([]string{"--transport", "pipe"}, other...), cmd: []string{scripts(t, "unflushed.py")}, want: []string{"unflushed"}, code: 1},
		{name: "ejabberd.py asked generic", flags: other, cmd: []string{scripts(t, "ejabberd.py")}, want: []string{"wrong_protocol"}, code: 1, in: "--protocol ejabberd"},
		{name: "sample.py asked ejabberd", flags: append([]string{"--protocol", "ejabberd"}, other...), cmd: []string{scripts(t, "sample.py")}, want: []string{"wrong_protocol"}, code: 1},

		// Answers, with more.
		{name: "banner", flags: slow, cmd: []string{scripts(t, "misbehave.py"), "--banner"}, want: []string{"banner"}, code: 1, in: `"misbehave.py 1.0 ready"`},
		{name: "echo", flags: slow, cmd: []string{scripts(t, "misbehave.py"), "--echo-requests"}, want: []string{"echo"}, code: 1},
		{name: "echo, ejabberd", flags: append([]string{"--protocol", "ejabberd"}, slow...), cmd: []string{scripts(t, "misbehave.py"), "--protocol", "ejabberd", "--echo-requests"},
			want: []string{"echo"}, code: 1},
		{name: "warnings on stdout", flags: slow, cmd: []string{scripts(t, "misbehave.py"), "--stdout-warning"}, want: []string{"extra_output"}, code: 1, in: "Undefined variable"},
		{name: "stray answers", flags: slow, cmd: []string{scripts(t, "stray.py"), "--prompted", "0", "--extra", "1", "--interval", "0"}, want: []string{"stray_answers"}, code: 1},
		{name: "leaky-stderr.py", flags: slow, cmd: []string{scripts(t, "leaky-stderr.py")}, want: []string{"password_on_stderr"}, code: 1},
		{name: "leaky-stderr.sh", flags: slow, cmd: []string{scripts(t, "leaky-stderr.sh")}, want: []string{"password_on_stderr"}, code: 1},
		{name: "says yes to anything", flags: slow, cmd: []string{script("yes.sh", "#!/bin/sh\nwhile read l; do echo 1; done\n", 0o755)},
			want: []string{"accepts_any_password", "claims_absent_user?"}, code: 1},

		// Time.
		{name: "slow start", flags: fast, cmd: []string{scripts(t, "misbehave.py"), "--start-delay", "2"}, want: []string{"slow_start"}, code: 1},
		{name: "starts slower than a caller waits", flags: other, cmd: []string{scripts(t, "misbehave.py"), "--start-delay", "1"}, want: []string{"slow_start?"}},
		{name: "slow answers", flags: other, cmd: []string{scripts(t, "misbehave.py"), "--answer-delay", "1"}, want: []string{"slow_answer"}, code: 1},

		// Stopping.
		{name: "ignores SIGTERM", flags: slow, cmd: []string{scripts(t, "misbehave.py"), "--ignore-sigterm", "--grandchild", pidfile("sigterm")},
			want: []string{"ignores_sigterm?"}, pids: pidfile("sigterm")},
		{name: "leaves a process behind", flags: slow, cmd: []string{scripts(t, "misbehave.py"), "--escaped-grandchild", pidfile("escaped")},
			want: []string{"leaves_processes?"}, pids: pidfile("escaped"), in: "(sleep)"},
		{name: "exits after one answer", flags: slow, cmd: []string{script("oneshot.sh", "#!/bin/sh\nread l; echo 0\n", 0o755)}, want: []string{"exits_after_answer"}, code: 1},

		// --user.
		{name: "crashes on a user", flags: append([]string{"--user", "crash@example.com"}, slow...), cmd: []string{scripts(t, "misbehave.py")}, stdin: "x\n",
			want: []string{"exits_after_answer"}, code: 1, in: "exited with status 3 after answering 3 requests"},
		{name: "hangs on a user", flags: append([]string{"--user", "hang@example.com"}, other...), cmd: []string{scripts(t, "misbehave.py"), "--pidfile", pidfile("hang")}, stdin: "x\n",
			want: []string{"no_answer"}, code: 1, pids: pidfile("hang")},
		{name: "junk for a user", flags: append([]string{"--user", "garbage@example.com"}, other...), cmd: []string{scripts(t, "misbehave.py")}, stdin: "x\n",
			want: []string{"junk"}, code: 1},
		{name: "a password it does not know", flags: append([]string{"--user", "alice@example.com"}, slow...), cmd: []string{scripts(t, "sample.py")}, stdin: "not-" + secretMark + "\n",
			want: []string{"rejects_right_password"}, code: 1},
		{name: "junk that repeats an earlier password", flags: append([]string{"--user", "alice@example.com"}, other...),
			cmd:   []string{script("repeats.sh", "#!/bin/sh\nwhile IFS= read -r l; do case $l in isuser:alice:*) echo \"last: $prev\";; *) echo 0;; esac; prev=$l; done\n", 0o755)},
			stdin: "again-" + secretMark + "\n", want: []string{"junk", "rejects_right_password"}, code: 1},
		{name: "a user it does not know", flags: append([]string{"--user", "nobody@example.com"}, slow...), cmd: []string{scripts(t, "sample.py")}, stdin: secretMark + "\n",
			want: []string{"denies_user", "rejects_right_password"}, code: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := append(append(append([]string{}, tt.flags...), "--json", "--"), tt.cmd...)
			code, out, errOut := runDoctor(t, tt.stdin, args...)
			var rep doctorJSON
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatalf("exit %d, stdout %q, stderr %q: %v", code, out, errOut, err)
			}
			got := slices.DeleteFunc(findingKeys(rep), func(k string) bool {
				return slices.Contains(timing, k) && !slices.Contains(tt.want, k)
			})
			want := slices.Sorted(slices.Values(tt.want))
			if !slices.Equal(got, want) || code != tt.code || rep.Fit != (tt.code == 0) {
				t.Errorf("exit %d, findings %q; want exit %d, findings %q\n%s%s", code, findingKeys(rep), tt.code, want, out, errOut)
			}
			if tt.in != "" && !strings.Contains(rep.text(), tt.in) {
				t.Errorf("the report does not say %q:\n%s", tt.in, out)
			}
			for _, f := range rep.Findings {
				if f.What == "" || f.Fix == "" {
					t.Errorf("finding %s says nothing, or no fix: %+v", f.ID, f)
				}
			}
			if tt.pids != "" {
				for _, pid := range pids(t, tt.pids) {
					if alive(pid) {
						t.Errorf("process %d, started by the helper, outlived doctor", pid)
					}
				}
			}
		})
	}
}

// The text report: each finding with its fix, and the verdict; the
// password given never shown, nor doctor's own.
func TestDoctorTextReport(t *testing.T) {
	code, out, _ := runDoctor(t, "not-"+secretMark+"\n", "--user", "alice@example.com", "--", scripts(t, "misbehave.py"), "--echo-requests")
	for _, want := range []string{
		"authpool doctor: " + scripts(t, "misbehave.py") + " (--protocol generic",
		"\nPROBLEM echo: it echoes each request back",
		"\n  fix: do not print the request",
		"\nPROBLEM rejects_right_password: it answered no to the password given for alice@example.com",
		"\nok: does not write the password it is sent to stderr",
		"\nNot fit to serve: 2 problems",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
}

func TestDoctorUsage(t *testing.T) {
	for _, tt := range []struct {
		args  []string
		stdin string
		want  string
	}{
		{args: nil, want: "no helper command"},
		{args: []string{"--processes", "0", "--", "x"}, want: "--processes 0: want more than 0"},
		{args: []string{"--protocol", "xmpp", "--", "x"}, want: "--protocol"},
		{args: []string{"--user", "alice", "--", "x"}, want: `--user "alice": want USER@SERVER`},
		{args: []string{"--user", "alice@example.com", "--", "x"}, stdin: "", want: "an empty password"},
		{args: []string{"--user", "al:ice@example.com", "--", "x"}, stdin: "pw\n", want: "--user: bad request"},
		{args: []string{"--no-such-flag"}, want: "flag provided but not defined"},
		{args: []string{"--config", "/nonexistent/authpool.toml", "--", "x"}, want: "/nonexistent/authpool.toml"},
	} {
		code, out, errOut := runDoctor(t, tt.stdin, tt.args...)
		if code != 2 || out != "" || !strings.Contains(errOut, tt.want) {
			t.Errorf("doctor %q: exit %d, stdout %q, stderr %q; want exit 2 saying %q", tt.args, code, out, errOut, tt.want)
		}
	}
}

// A serve config file is checked as serve reads it.
func TestDoctorConfigFile(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "authpool.toml")
	text := `command = ["` + scripts(t, "ejabberd.py") + `"]
protocol = "ejabberd"
socket = "/run/authpool/authpool.sock"
processes = 4
`
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runDoctor(t, "", "--config", cfg)
	if code != 0 || !strings.Contains(out, "--protocol ejabberd") || !strings.Contains(out, "Fit to serve") {
		t.Errorf("exit %d:\n%s%s", code, out, errOut)
	}
}
