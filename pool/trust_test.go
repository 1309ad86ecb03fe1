package pool

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authpool/authpool/framing"
	"github.com/authpool/authpool/internal/testutil"
)

// testscript is the absolute path of a script in testscripts/.
func testscript(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "testscripts", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// startPool starts a pool as cfg says and closes it when the test ends.
func startPool(t *testing.T, cfg Config) *Pool {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return p
}

// trustObserver records the breaker's events.
type trustObserver struct {
	nopObserver
	mu        sync.Mutex
	outOfStep map[string]int
	changes   []trustChange
}

type trustChange struct {
	at      time.Time
	trusted bool
	reason  string
}

func (o *trustObserver) OutOfStep(what string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.outOfStep == nil {
		o.outOfStep = map[string]int{}
	}
	o.outOfStep[what]++
}

func (o *trustObserver) Trust(trusted bool, reason string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.changes = append(o.changes, trustChange{time.Now(), trusted, reason})
}

func (o *trustObserver) snapshot() (map[string]int, []trustChange) {
	o.mu.Lock()
	defer o.mu.Unlock()
	m := map[string]int{}
	for k, v := range o.outOfStep {
		m[k] = v
	}
	return m, append([]trustChange(nil), o.changes...)
}

// eventually waits, bounded, for cond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type outcome struct {
	start, end time.Time
	yes        bool
	err        error
}

// TestStrayAnswersDistrustHelpers: helpers that write stray "1" lines at
// random moments (testscripts/stray.py) get at most 1% of 600 wrong
// passwords answered yes, all of them before the command is distrusted;
// after that every request fails with ErrUntrusted, no helper but one
// probe at a time is started, with the wait doubling, and every probe of
// the still-misbehaving command fails.
func TestStrayAnswersDistrustHelpers(t *testing.T) {
	for _, mode := range []Mode{Blocking, NonBlocking} {
		t.Run(mode.String(), func(t *testing.T) {
			obs := &trustObserver{}
			const untrustedFor = 100 * time.Millisecond
			p := startPool(t, Config{
				Command:      []string{testscript(t, "stray.py")},
				Mode:         mode,
				Processes:    4,
				QueueSize:    100,
				UntrustedFor: untrustedFor,
				Observer:     obs,
			})
			waitReady(t, p)
			spawnsBefore := p.Stats().Spawns

			results := make([]outcome, 600)
			var wg sync.WaitGroup
			for w := range 4 {
				wg.Go(func() {
					for i := w; i < len(results); i += 4 {
						ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
						r := outcome{start: time.Now()}
						r.yes, r.err = p.Auth(ctx, "alice", "example.com", fmt.Sprintf("wrong-%d", i))
						r.end = time.Now()
						cancel()
						results[i] = r
					}
				})
			}
			wg.Wait()

			_, changes := obs.snapshot()
			tripped := time.Now()
			if len(changes) > 0 {
				tripped = changes[0].at
			}
			var yes, yesAfter, untrusted int
			for i, r := range results {
				if r.yes {
					yes++
					if r.start.After(tripped) {
						yesAfter++
						t.Errorf("request %d, started after the trip, answered yes", i)
					}
				}
				if errors.Is(r.err, ErrUntrusted) {
					untrusted++
				}
			}
			if yes > len(results)/100 {
				t.Errorf("%d of %d wrong passwords answered yes, want at most 1%%", yes, len(results))
			}
			if len(changes) == 0 || changes[0].trusted {
				t.Fatalf("the command was never distrusted: %v; %+v", changes, p.Stats())
			}
			if untrusted < len(results)/2 {
				t.Errorf("only %d of %d requests failed as untrusted", untrusted, len(results))
			}

			// While untrusted: one probe at a time, UntrustedFor apart and
			// doubling, each failing; every request still refused.
			openFor := time.Now()
			spawnsAtTrip := p.Stats().Spawns
			eventually(t, "two failed probes", func() bool {
				m, _ := obs.snapshot()
				return m[stepProbe] >= 2
			})
			for range 20 {
				if ok, err := p.Auth(bounded(t), "alice", "example.com", "wrong"); ok || !errors.Is(err, ErrUntrusted) {
					t.Fatalf("while untrusted: %v, %v", ok, err)
				}
			}
			elapsed := time.Since(openFor) + untrustedFor // the first probe may be due at once
			allowed := int(math.Log2(float64(elapsed)/float64(untrustedFor)+1)) + 1
			st := p.Stats()
			if n := int(st.Spawns - spawnsAtTrip); n > allowed {
				t.Errorf("%d helpers started in %v while untrusted, want at most %d (one probe at a time, doubling)", n, elapsed, allowed)
			}
			if !st.Untrusted || st.UntrustedReason == "" || st.Distrusted != 1 {
				t.Errorf("stats while untrusted: %+v", st)
			}
			m, changes := obs.snapshot()
			if len(changes) != 1 {
				t.Errorf("trust changed %d times, want once: %v", len(changes), changes)
			}
			t.Logf("%s: %d of %d wrong passwords answered yes, all before the trip; helpers started: %d before the trip, %d after it; caught out of step: %v",
				mode, yes, len(results), spawnsAtTrip-spawnsBefore, st.Spawns-spawnsAtTrip, m)
		})
	}
}

// TestTrustRestoredByProbe: once the helpers behave, a probe trusts the
// command again and requests are answered; during the probation that
// follows, a single catch distrusts it again at once.
func TestTrustRestoredByProbe(t *testing.T) {
	for _, mode := range []Mode{Blocking, NonBlocking} {
		t.Run(mode.String(), func(t *testing.T) {
			obs := &trustObserver{}
			quiet := filepath.Join(t.TempDir(), "quiet")
			p := startPool(t, Config{
				Command:      []string{testscript(t, "stray.py"), "--quiet-file", quiet},
				Mode:         mode,
				Processes:    2,
				UntrustedFor: 100 * time.Millisecond,
				Observer:     obs,
			})
			waitReady(t, p)
			eventually(t, "the command to be distrusted", func() bool {
				p.Auth(bounded(t), "alice", "example.com", "wrong")
				return p.Stats().Untrusted
			})
			if err := os.WriteFile(quiet, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			eventually(t, "a probe to pass", func() bool { return !p.Stats().Untrusted })
			for _, tt := range []struct {
				pw   string
				want bool
			}{{"wonderland", true}, {"wrong", false}, {"wonderland", true}} {
				if got, err := p.Auth(bounded(t), "alice", "example.com", tt.pw); got != tt.want || err != nil {
					t.Fatalf("after the probe passed: %v, %v; want %v", got, err, tt.want)
				}
			}
			if err := os.Remove(quiet); err != nil {
				t.Fatal(err)
			}
			eventually(t, "the command to be distrusted again", func() bool {
				p.Auth(bounded(t), "alice", "example.com", "wrong")
				return p.Stats().Distrusted == 2
			})
			_, changes := obs.snapshot()
			if len(changes) != 3 || changes[0].trusted || !changes[1].trusted || changes[1].reason != trustProbePassed || changes[2].trusted {
				t.Fatalf("trust changes %+v, want distrusted, probe passed, distrusted", changes)
			}
		})
	}
}

// TestAnswerGraceCatchesStrayBeforeAnswer: with AnswerGrace, a stray "1"
// that arrives just before the real answer is caught by the answer that
// follows it, and no wrong password is answered yes.
func TestAnswerGraceCatchesStrayBeforeAnswer(t *testing.T) {
	for _, grace := range []time.Duration{0, 2 * time.Second} {
		t.Run(fmt.Sprint(grace), func(t *testing.T) {
			p := startPool(t, Config{
				Command: []string{testscript(t, "stray.py"),
					"--prompted", "1", "--gap-ms", "1", "--extra", "0", "--interval", "0"},
				OutOfStepLimit: 1000,
				AnswerGrace:    grace,
			})
			yes := 0
			for i := range 5 {
				ok, err := p.Auth(bounded(t), "alice", "example.com", fmt.Sprint("wrong", i))
				if ok {
					yes++
				}
				if grace > 0 && (ok || !errors.Is(err, ErrProtocol)) {
					t.Errorf("request %d: %v, %v; want false, ErrProtocol", i, ok, err)
				}
			}
			if grace == 0 && yes == 0 {
				// The stray wins the race without a grace: what the grace
				// is for. (Not an error: the race is the helper's.)
				t.Logf("without a grace, no stray won the race this time")
			}
			t.Logf("grace %v: %d of 5 wrong passwords answered yes", grace, yes)
		})
	}
}

// TestProbe: Probe passes a working helper and names the program and the
// cause for every way one can fail to start or answer.
func mustGetwd(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return wd
}

func TestProbe(t *testing.T) {
	dir := t.TempDir()
	script := func(name, text string, mode os.FileMode) string { return testutil.Script(t, dir, name, text, mode) }
	tests := []struct {
		name    string
		command []string
		proto   framing.Protocol
		wantErr error    // nil: must pass
		want    []string // in the error
	}{
		{"sample.py", []string{testscript(t, "sample.py")}, framing.Generic, nil, nil},
		{"sample.sh", []string{testscript(t, "sample.sh")}, framing.Generic, nil, nil},
		{"ejabberd.py", []string{testscript(t, "ejabberd.py")}, framing.Ejabberd, nil, nil},
		{"missing", []string{filepath.Join(dir, "no-such-helper")}, 0, ErrHelperStart,
			[]string{filepath.Join(dir, "no-such-helper"), "no such file"}},
		{"relative, not found", []string{"helpers/no-such-helper"}, 0, ErrHelperStart,
			[]string{"helpers/no-such-helper", "no such file in " + mustGetwd(t), "working directory"}},
		{"not in PATH", []string{"authpool-no-such-helper"}, 0, ErrHelperStart,
			[]string{"authpool-no-such-helper", "not found in $PATH"}},
		{"not executable", []string{script("noexec.sh", "#!/bin/sh\n", 0o644)}, 0, ErrHelperStart,
			[]string{"noexec.sh", "not executable (mode 0644)"}},
		{"directory", []string{dir}, 0, ErrHelperStart, []string{dir, "is a directory"}},
		{"bad interpreter", []string{script("badinterp.py", "#!/nonexistent/python3\nprint(1)\n", 0o755)}, 0, ErrHelperStart,
			[]string{"badinterp.py", "bad interpreter: /nonexistent/python3, named by its #! line, does not exist"}},
		{"windows line ends", []string{script("crlf.sh", "#!/bin/sh\r\necho 0\r\n", 0o755)}, 0, ErrHelperStart,
			[]string{"crlf.sh", "Windows line ends"}},
		{"env interpreter missing", []string{script("envinterp.py", "#!/usr/bin/env authpool-no-such-python\n", 0o755)}, 0, ErrHelperStart,
			[]string{"envinterp.py", "status 127", "authpool-no-such-python"}},
		{"exits with a message", []string{script("dies.sh", "#!/bin/sh\necho 'cannot open /var/lib/users.db' >&2\nexit 3\n", 0o755), "--db-password=" + secretArg},
			0, ErrHelperStart, []string{"dies.sh", "exited with status 3 before its first answer", "cannot open /var/lib/users.db"}},
		{"killed", []string{script("killed.sh", "#!/bin/sh\nkill -9 $$\n", 0o755)}, 0, ErrHelperStart,
			[]string{"killed.sh", "killed by SIGKILL"}},
		{"hangs", []string{script("hangs.sh", "#!/bin/sh\nexec sleep 60\n", 0o755)}, 0, ErrTimeout,
			[]string{"hangs.sh", "no answer within", "isuser authpool-probe@probe.invalid"}},
		{"junk", []string{script("junk.sh", "#!/bin/sh\nread l; echo yes\nsleep 1\n", 0o755)}, 0, ErrProtocol,
			[]string{"junk.sh", "protocol"}},
		{"banner", []string{script("banner.sh", "#!/bin/sh\necho 1\nwhile read l; do echo 0; done\n", 0o755)}, 0, ErrProtocol,
			[]string{"banner.sh"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := Probe(bounded(t), Config{Command: tt.command, Protocol: tt.proto,
				Timeout: 500 * time.Millisecond, StartTimeout: 5 * time.Second, StopGrace: 100 * time.Millisecond})
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Probe: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Probe = %v, want %v", err, tt.wantErr)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), secretArg) {
				t.Errorf("error %q shows the helper's arguments", err)
			}
		})
	}
}

// secretArg stands for a secret an operator passes a helper in its
// arguments: errors name the program, never its arguments.
const secretArg = "s3cret-in-argv"

// TestReconfigureProvesCommand: a reload to a command that cannot start
// or answer is refused, and the running helpers serve on untouched, with
// no request failing; a good command then applies at once, even to slots
// waiting out a long restart delay.
func TestReconfigureProvesCommand(t *testing.T) {
	dir := t.TempDir()
	dies := filepath.Join(dir, "dies.sh")
	if err := os.WriteFile(dies, []byte("#!/bin/sh\necho 'no database' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	base := Config{Processes: 3, Timeout: 500 * time.Millisecond, StartTimeout: 5 * time.Second, Env: []string{"POOL_TEST_GEN=1"}}
	p := newPool(t, "db", base)
	ctx := bounded(t)
	waitReady(t, p)
	pids := func() []int {
		var out []int
		for _, h := range p.Stats().Helpers {
			out = append(out, h.PID)
		}
		return out
	}
	before := pids()

	load := startLoad(t, ctx, p, 4)
	for _, bad := range [][]string{
		{filepath.Join(dir, "missing")},
		{dies},
		{"/bin/sleep", "60"},
	} {
		next := base
		next.Command = bad
		if err := p.Reconfigure(ctx, next); err == nil {
			t.Errorf("Reconfigure to %v accepted", bad)
		} else {
			t.Logf("refused: %v", err)
		}
	}
	st := p.Stats()
	if got := pids(); fmt.Sprint(got) != fmt.Sprint(before) || st.SpawnFailures != 0 || st.Recycles != 0 {
		t.Errorf("refused reloads touched the helpers: pids %v -> %v, %+v", before, pids(), st)
	}
	next := base
	next.Command = p.conf().Command
	next.Env = []string{"POOL_TEST_GEN=2", fakeEnv + "=db", fakeProtoEnv + "=generic"}
	if err := p.Reconfigure(ctx, next); err != nil {
		t.Fatal(err)
	}
	eventually(t, "every helper to be the new one", func() bool {
		for range 4 {
			if got, err := p.Do(ctx, auth("gen", "2")); !got || err != nil {
				return false
			}
		}
		return p.Stats().Recycles >= 3
	})
	served, failed := load.stop()
	if failed > 0 || served == 0 {
		t.Fatalf("%d requests failed, %d served across the reloads", failed, served)
	}
}

// TestReloadCutsBackoffShort: slots waiting out a restart delay after
// their command broke start the new command at once.
func TestReloadCutsBackoffShort(t *testing.T) {
	p := newPool(t, "crashloop", Config{Processes: 2, RestartDelay: time.Hour})
	ctx := bounded(t)
	eventually(t, "both slots to back off", func() bool {
		for _, h := range p.Stats().Helpers {
			if h.State != StateBackoff {
				return false
			}
		}
		return true
	})
	next := Config{Processes: 2, Command: p.conf().Command, Env: []string{fakeEnv + "=db", fakeProtoEnv + "=generic"}}
	if err := p.Reconfigure(ctx, next); err != nil {
		t.Fatal(err)
	}
	// With an hour's delay, only a reload that cuts it short answers.
	eventually(t, "a helper of the new command to answer", func() bool {
		got, err := p.Do(ctx, auth("alice", "wonderland"))
		return got && err == nil
	})
}

// TestFailedReplacementKeepsWorkingHelpers: a command that passes its
// probe but then cannot start does not replace every helper that still
// works: the one slot that tries holds the recycling place.
func TestFailedReplacementKeepsWorkingHelpers(t *testing.T) {
	dir := t.TempDir()
	once := filepath.Join(dir, "once.sh")
	marker := filepath.Join(dir, "started")
	text := fmt.Sprintf("#!/bin/sh\n[ -e %q ] && exit 1\n: > %q\nwhile read l; do echo 0; done\n", marker, marker)
	if err := os.WriteFile(once, []byte(text), 0o755); err != nil {
		t.Fatal(err)
	}
	p := newPool(t, "db", Config{Processes: 3})
	ctx := bounded(t)
	waitReady(t, p)
	if err := p.Reconfigure(ctx, Config{Processes: 3, Command: []string{once}}); err != nil {
		t.Fatal(err) // the probe is its one good start
	}
	eventually(t, "replacements to fail", func() bool {
		for _, h := range p.Stats().Helpers {
			if h.Restarts >= 3 {
				return true
			}
		}
		return false
	})
	ready := 0
	for _, h := range p.Stats().Helpers {
		if h.State == StateReady {
			ready++
		}
	}
	if ready != 2 {
		t.Fatalf("%d helpers ready, want the 2 not being replaced: %+v", ready, p.Stats().Helpers)
	}
	if got, err := p.Do(ctx, auth("alice", "wonderland")); !got || err != nil {
		t.Fatalf("old helpers no longer serve: %v, %v", got, err)
	}
}

// TestNoConfirmForSingleUsePasswords: a helper that accepts a password
// once answers the confirming second asking no, which counts as out of
// step; NoConfirm is for such helpers.
func TestNoConfirmForSingleUsePasswords(t *testing.T) {
	dir := t.TempDir()
	helper := filepath.Join(dir, "once.sh")
	text := "#!/bin/sh\nwhile IFS= read -r l; do\n" +
		"  if [ \"$l\" = auth:alice:example.com:token-1 ] && [ ! -e \"$MARK\" ]; then : > \"$MARK\"; echo 1; else echo 0; fi\ndone\n"
	if err := os.WriteFile(helper, []byte(text), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		noConfirm bool
		want      bool
		wantErr   error
	}{
		{false, false, ErrProtocol},
		{true, true, nil},
	} {
		t.Run(fmt.Sprint("NoConfirm=", tt.noConfirm), func(t *testing.T) {
			mark := filepath.Join(t.TempDir(), "used")
			p := startPool(t, Config{Command: []string{helper}, Env: []string{"MARK=" + mark}, NoConfirm: tt.noConfirm})
			got, err := p.Auth(bounded(t), "alice", "example.com", "token-1")
			if got != tt.want || !errors.Is(err, tt.wantErr) {
				t.Fatalf("Auth = %v, %v; want %v, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}
