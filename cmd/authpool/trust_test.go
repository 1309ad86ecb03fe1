package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/authpool/authpool/internal/testutil"
)

// TestStrayAnswersDistrustHelpers: a daemon whose helpers write stray "1"
// lines at random moments (finding 10) answers at most 1% of 600 wrong
// passwords yes, all before it distrusts the command; after that every
// request fails (native "error untrusted", HTTP 503, metrics and health
// say so), none is answered yes, and helpers are not started over and
// over: one probe at a time, at doubling intervals.
func TestStrayAnswersDistrustHelpers(t *testing.T) {
	dir := t.TempDir()
	pidfile, msock, hsock := filepath.Join(dir, "pids"), filepath.Join(dir, "metrics.sock"), filepath.Join(dir, "http.sock")
	const untrustedFor = 200 * time.Millisecond
	// Helpers stray from their second answer on: the daemon's start-up
	// probe, a helper's only request, must pass.
	d := startDaemon(t, "--processes", "4", "--untrusted-for", untrustedFor.String(),
		"--metrics", "unix:"+msock, "--http", "unix:"+hsock, "--http-insecure-no-auth",
		"--", scripts(t, "stray.py"), "--after", "2", "--pidfile", pidfile)
	within(t, "a helper to start", func() bool { _, err := os.Stat(pidfile); return err == nil })
	startsBefore := len(pids(t, pidfile))

	// Four connections, each sending its share one at a time, so that on
	// each the order of answers is the order of events.
	type answer struct {
		n    int
		text string
	}
	answers := make([][]answer, 4)
	var wg sync.WaitGroup
	for conn := range 4 {
		wg.Go(func() {
			c := d.dial()
			for n := conn; n < 600; n += 4 {
				a := c.ask(fmt.Sprintf("%d auth:alice:example.com:%s-%d", n, secretMark, n))[0]
				answers[conn] = append(answers[conn], answer{n, a})
			}
		})
	}
	wg.Wait()
	yes, untrusted := 0, 0
	for conn, as := range answers {
		distrusted := false
		for _, a := range as {
			_, text, _ := strings.Cut(a.text, " ")
			switch {
			case text == "1":
				yes++
				if distrusted {
					t.Errorf("connection %d: request %d answered yes after the command was distrusted", conn, a.n)
				}
			case strings.HasPrefix(text, "error untrusted"):
				untrusted++
				distrusted = true
			}
		}
	}
	if yes > 6 {
		t.Errorf("%d of 600 wrong passwords answered yes, want at most 1%%", yes)
	}
	if untrusted < 300 {
		t.Errorf("only %d of 600 answers were error untrusted", untrusted)
	}
	startsAtTrip := len(pids(t, pidfile))
	openSince := time.Now()

	// While untrusted: HTTP says 503, health says down, metrics say why.
	hc := unixHTTP(hsock)
	resp, err := hc.Get("http://authpool/check_password?user=alice&server=example.com&pass=" + secretMark)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Errorf("HTTP check_password while untrusted: %d, want 503", resp.StatusCode)
	}
	mc := unixHTTP(msock)
	get := func(path string) (int, string) {
		resp, err := mc.Get("http://authpool" + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != 503 {
		t.Errorf("healthz %d while untrusted, want 503", code)
	}
	within(t, "two failed probes in the metrics", func() bool {
		_, page := get("/metrics")
		return metricValue(page, `authpool_helper_out_of_step_total{what="probe_failed"}`) >= 2
	})
	elapsed := time.Since(openSince) + untrustedFor
	_, page := get("/metrics")
	for _, want := range []string{
		"authpool_helpers_trusted 0",
		`authpool_trust_changes_total{reason=`,
		`authpool_requests_total{op="auth",result="untrusted"}`,
		`authpool_helpers{state="untrusted"}`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	allowed := int(math.Log2(float64(elapsed)/float64(untrustedFor)+1)) + 1
	if n := len(pids(t, pidfile)) - startsAtTrip; n > allowed {
		t.Errorf("%d helpers started in %v while untrusted, want at most %d", n, elapsed, allowed)
	}
	if r := statusOf(t, d.socket); r.Untrusted == "" || r.Totals.Distrusted != 1 {
		t.Errorf("status while untrusted: %+v", r)
	}
	if !strings.Contains(d.logs.String(), "helper command untrusted") {
		t.Error("the log does not say the command is untrusted")
	}
	t.Logf("%d of 600 wrong passwords answered yes, %d refused as untrusted; helpers started: %d before the trip, %d while untrusted for %v",
		yes, untrusted, startsAtTrip-startsBefore, len(pids(t, pidfile))-startsAtTrip, elapsed.Round(time.Millisecond))
}

// metricValue is the value of the sample named exactly so (with its
// labels) in a Prometheus text page, or -1.
func metricValue(page, name string) float64 {
	for _, line := range strings.Split(page, "\n") {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			var v float64
			if _, err := fmt.Sscan(rest, &v); err == nil {
				return v
			}
		}
	}
	return -1
}

// serveExit runs "authpool serve" as its own process and returns its exit
// code and output; the daemon must exit by itself within the bound.
func serveExit(t *testing.T, socket string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"serve", "--socket", socket, "--timeout", "1s"}, args...)...)
	cmd.Env = append(os.Environ(), mainEnv+"=1")
	return exitCode(t, cmd, 30*time.Second, "serve did not exit")
}

// TestServeRefusesBrokenHelper (finding 14): serve exits 1 before saying it
// serves when its helper cannot start or dies before its first answer,
// naming the program and the cause, and leaves no socket behind.
func TestServeRefusesBrokenHelper(t *testing.T) {
	dir := t.TempDir()
	script := func(name, text string, mode os.FileMode) string { return testutil.Script(t, dir, name, text, mode) }
	tests := []struct {
		name    string
		command []string
		want    []string
	}{
		{"missing", []string{filepath.Join(dir, "missing.py")}, []string{"missing.py", "no such file"}},
		{"not in PATH", []string{"authpool-no-such-helper"}, []string{"authpool-no-such-helper", "not found in $PATH"}},
		{"not executable", []string{script("noexec.py", "#!/usr/bin/env python3\n", 0o644)}, []string{"noexec.py", "not executable"}},
		{"directory", []string{dir}, []string{dir, "is a directory"}},
		{"bad interpreter", []string{script("interp.py", "#!/usr/bin/python9\n", 0o755)},
			[]string{"interp.py", "bad interpreter: /usr/bin/python9", "does not exist"}},
		{"env interpreter missing", []string{script("envinterp.py", "#!/usr/bin/env python9\n", 0o755)},
			[]string{"envinterp.py", "status 127", "python9"}},
		{"exits before its first request", []string{script("dies.sh", "#!/bin/sh\necho 'cannot read /etc/authpool/users' >&2\nexit 2\n", 0o755)},
			[]string{"dies.sh", "exited with status 2 before its first answer", "cannot read /etc/authpool/users"}},
		{"crash-loops from the start", []string{scripts(t, "crashloop.sh")}, []string{"crashloop.sh", "exited with status 1"}},
		{"never answers", []string{"/bin/sleep", "60"}, []string{"/bin/sleep", "no answer within"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sock := filepath.Join(t.TempDir(), "authpool.sock")
			code, out := serveExit(t, sock, append([]string{"--"}, tt.command...)...)
			if code != 1 {
				t.Fatalf("exit %d, want 1:\n%s", code, out)
			}
			if strings.Contains(out, "authpool serving") {
				t.Errorf("said it was serving:\n%s", out)
			}
			last := out[strings.LastIndex(strings.TrimSuffix(out, "\n"), "\n")+1:]
			for _, w := range tt.want {
				if !strings.Contains(last, w) {
					t.Errorf("last line %q does not say %q", last, w)
				}
			}
			if _, err := os.Stat(sock); !os.IsNotExist(err) {
				t.Errorf("socket left behind: %v", err)
			}
		})
	}
}

// TestReloadProvesCommand (finding 13): under load, SIGHUP to a command
// that cannot start or answer keeps the running helpers, fails no request
// and logs why (with the helper's stderr); SIGHUP to a good command then
// applies at once, with no restart delay left over.
func TestReloadProvesCommand(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "authpool.toml")
	dies := filepath.Join(dir, "dies.sh")
	writeFile(t, dies, "#!/bin/sh\necho 'no users database' >&2\nexit 1\n")
	if err := os.Chmod(dies, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, conf, fmt.Sprintf("command = [%q]\nprocesses = 3\n", scripts(t, "sample.py")))
	// noPenalties: concurrent checks of one user without an address, which
	// the guessing defence would run one at a time.
	d := startDaemon(t, append(noPenalties, "--config", conf, "--timeout", "1s")...)
	load := startSteadyLoad(t, d.socket, 4)
	reloads := 0
	reload := func(command, wantLog string) {
		t.Helper()
		writeFile(t, conf, fmt.Sprintf("command = [%s]\nprocesses = 3\n", command))
		reloads++
		d.cmd.Process.Signal(syscall.SIGHUP)
		within(t, fmt.Sprintf("reload %d to be logged", reloads), func() bool {
			return strings.Count(d.logs.String(), "msg=reloading") >= reloads && strings.Contains(d.logs.String(), wantLog)
		})
	}
	for _, tt := range []struct{ command, want string }{
		{fmt.Sprintf("%q", filepath.Join(dir, "missing.py")), "missing.py: no such file"},
		{fmt.Sprintf("%q", dies), "no users database"},
		{`"/bin/sleep", "60"`, "no answer within"},
	} {
		before := strings.Count(d.logs.String(), "reload failed; keeping the running configuration")
		reload(tt.command, tt.want)
		within(t, "the failed reload to be logged", func() bool {
			return strings.Count(d.logs.String(), "reload failed; keeping the running configuration") > before
		})
	}
	if strings.Contains(d.logs.String(), "helper failed to start") || strings.Contains(d.logs.String(), "reason=reload") {
		t.Errorf("a refused reload touched the running helpers:\n%s", d.logs.String())
	}
	reload(fmt.Sprintf("%q", scripts(t, "sample.pl")), "msg=reloaded")
	within(t, "every helper to be Perl", func() bool {
		r := statusOf(t, d.socket)
		for _, h := range r.Helpers {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", h.PID))
			if h.PID == 0 || !strings.Contains(string(b), "sample.pl") {
				return false
			}
		}
		return len(r.Helpers) == 3
	})
	answered, failed := load.stop()
	if failed > 0 || answered < 50 {
		t.Fatalf("%d of %d requests failed across the reloads", failed, answered)
	}
	t.Logf("%d requests answered across 3 refused reloads and a good one, none failed", answered)
}
