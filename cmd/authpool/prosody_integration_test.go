//go:build integration

package main

// Prosody's mod_auth_external_insecure, as it really calls a helper, logs
// users in through
//
//	lpty -> authpool-connect -> authpool serve -> testscripts/misbehave.py
//
// testdata/prosody-external.lua drives the real lpty (built for Lua 5.4
// from Debian's lua-lpty source by contrib/prosody/build-lpty.sh) the way
// the module does. Run with "make integration", which builds it.

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// prosodyTimeout is Prosody's default external_auth_timeout, in seconds.
const prosodyTimeout = 5

// luaCaller is one Prosody host's external auth: a Lua process holding an
// lpty and its helper.
type luaCaller struct {
	t   *testing.T
	in  io.WriteCloser
	out *bufio.Reader
	cmd *exec.Cmd
}

func startLuaCaller(t *testing.T, command string, env ...string) *luaCaller {
	t.Helper()
	lpty := os.Getenv("AUTHPOOL_LPTY_DIR")
	if lpty == "" {
		t.Fatal("AUTHPOOL_LPTY_DIR is not set: run make integration, which builds lpty")
	}
	script, err := filepath.Abs("testdata/prosody-external.lua")
	if err != nil {
		t.Fatal(err)
	}
	c := &luaCaller{t: t}
	c.cmd = exec.Command("lua5.4", script, command, fmt.Sprint(prosodyTimeout))
	c.cmd.Env = append(os.Environ(), "LUA_CPATH="+lpty+"/?.so")
	c.cmd.Env = append(c.cmd.Env, env...)
	c.cmd.Stderr = os.Stderr
	if c.in, err = c.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.out = bufio.NewReader(out)
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	t.Cleanup(func() {
		io.WriteString(c.in, "quit\n")
		c.in.Close()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			c.cmd.Process.Kill()
			t.Error("the Lua caller did not exit")
		}
	})
	return c
}

// do sends one control line and returns the result line, bounded.
func (c *luaCaller) do(line string) string {
	c.t.Helper()
	if _, err := io.WriteString(c.in, line+"\n"); err != nil {
		c.t.Fatal(err)
	}
	got := make(chan string, 1)
	go func() {
		s, _ := c.out.ReadString('\n')
		got <- strings.TrimSuffix(s, "\n")
	}()
	select {
	case s := <-got:
		return s
	case <-time.After(2*prosodyTimeout*time.Second + 10*time.Second):
		c.t.Fatalf("no result for %.40q", line)
		return ""
	}
}

// tally asks every line and counts results that differ from want.
type tally struct{ asked, wrongYes, wrongNo, unreadable, timeouts, dead int }

func (c *luaCaller) ask(lines, want []string) tally {
	c.t.Helper()
	var r tally
	for i, line := range lines {
		got := c.do("q " + line)
		r.asked++
		switch {
		case got == want[i]:
		case got == "yes":
			r.wrongYes++
			c.t.Errorf("WRONG YES: %.40q", line)
		case got == "no":
			r.wrongNo++
			c.t.Errorf("wrong no: %.40q", line)
		case got == "timeout":
			r.timeouts++
		case got == "dead":
			r.dead++
		default:
			r.unreadable++
		}
	}
	return r
}

func (c *luaCaller) askClean(what string, lines, want []string) {
	c.t.Helper()
	r := c.ask(lines, want)
	c.t.Logf("%s: %+v", what, r)
	if r.wrongYes+r.wrongNo+r.unreadable+r.timeouts+r.dead > 0 {
		c.t.Errorf("%s: %+v: want every answer right", what, r)
	}
}

// warmUp asks until connect answers: the first request or two after start
// may be discarded (see "first requests right after start").
func (c *luaCaller) warmUp() {
	c.t.Helper()
	for range 3 {
		switch got := c.do("q isuser:zed:example.com"); got {
		case "no":
			return
		case "yes", "dead":
			c.t.Fatalf("warm-up: %s", got)
		}
	}
	c.t.Fatal("warm-up: no answer in three requests")
}

func TestProsodyExternalAuth(t *testing.T) {
	if _, err := exec.LookPath("lua5.4"); err != nil {
		t.Fatal("lua5.4 is missing: run make integration as root, which installs it")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "authpool")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	// external_auth_command is one file name: the link, as the README says.
	link := filepath.Join(dir, connectName)
	if err := os.Symlink(bin, link); err != nil {
		t.Fatal(err)
	}
	socket := filepath.Join(dir, "authpool.sock")
	// noPenalties: thousands of logins of four users, wrong ones among
	// them, with no address; the guessing defence has its own tests.
	daemonArgs := []string{"serve", "--socket", socket, "--processes", "2", "--timeout", "4s", "--log-level", "debug",
		"--penalty-base", "0", "--", scripts(t, "misbehave.py")}
	d := startBinaryDaemon(t, bin, daemonArgs...)

	// connect's settings as the README gives them, with debug logging
	// to a file (logs must never reach the pty).
	logFile := filepath.Join(dir, "connect.log")
	conf := filepath.Join(dir, "connect.toml")
	os.WriteFile(conf, []byte(fmt.Sprintf("socket = %q\nlog-file = %q\nlog-level = \"debug\"\n", socket, logFile)), 0o644)
	env := "AUTHPOOL_CONNECT_CONFIG=" + conf
	rng := rand.New(rand.NewPCG(5, 6))

	// Prosody writes its first request as the helper starts, and the pty
	// often echoes it back: Prosody reads the echo as the answer (an
	// error) and may send the next request at once, while connect is
	// still starting. connect discards what was written before it was
	// ready, so those requests go unanswered (a timeout: a failed login)
	// and every later answer is in step. Never a wrong answer.
	t.Run("first requests right after start", func(t *testing.T) {
		var all tally
		for range 10 {
			c := startLuaCaller(t, link, env)
			r := c.ask([]string{"isuser:bob:example.com", "isuser:zed:example.com", "auth:alice:example.com:wonderland",
				"auth:alice:example.com:" + secretMark}, []string{"yes", "no", "yes", "no"})
			all.asked += r.asked
			all.wrongYes += r.wrongYes
			all.wrongNo += r.wrongNo
			all.unreadable += r.unreadable
			all.timeouts += r.timeouts
			all.dead += r.dead
		}
		t.Logf("10 starts, 4 requests each: %+v (the first, and the second when it came before connect was ready, unanswered)", all)
		if all.wrongYes+all.wrongNo+all.dead > 0 || all.unreadable+all.timeouts > 20 {
			t.Errorf("after start: %+v", all)
		}
	})

	c := startLuaCaller(t, link, env)
	c.warmUp()
	t.Run("3000 mixed requests", func(t *testing.T) {
		lines, want := mixed(3000, rng)
		c.askClean("3000 mixed", lines, want)
	})

	t.Run("hung helper", func(t *testing.T) {
		if got := c.do("q auth:hang:example.com:x"); got != "no" {
			t.Errorf("hung helper: %s, want no", got)
		}
		lines, want := mixed(200, rng)
		c.askClean("after a hung helper", lines, want)
	})

	t.Run("daemon outage longer than the caller's timeout", func(t *testing.T) {
		d.stop()
		start := time.Now()
		for time.Since(start) < 2*prosodyTimeout*time.Second {
			if got := c.do("q auth:alice:example.com:wonderland"); got != "no" {
				t.Fatalf("daemon down: %s, want no", got)
			}
		}
		d = startBinaryDaemon(t, bin, daemonArgs...)
		// New helpers may miss connect's timeout while they start: a no.
		within(t, "logins to work again", func() bool {
			got := c.do("q isuser:bob:example.com")
			if got != "yes" && got != "no" {
				t.Fatalf("while the daemon starts: %s", got)
			}
			return got == "yes"
		})
		lines, want := mixed(200, rng)
		c.askClean("after the outage", lines, want)
	})

	b, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "request answered") {
		t.Errorf("connect's debug log is empty")
	}
	if strings.Contains(string(b), "wonderland") || strings.Contains(string(b), secretMark) {
		t.Errorf("a password reached connect's log")
	}
}
