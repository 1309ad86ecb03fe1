package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/authpool/authpool/internal/testutil"
)

// chaosRequests is how many requests each chaos run sends: a short run in
// make test, 50,000 in make chaos (AUTHPOOL_CHAOS_REQUESTS).
func chaosRequests(t *testing.T) int {
	if s := os.Getenv("AUTHPOOL_CHAOS_REQUESTS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 64 {
			t.Fatalf("AUTHPOOL_CHAOS_REQUESTS=%q: want a number of at least 64", s)
		}
		return n
	}
	return 2000
}

// chaosResult is one request's fate.
type chaosResult struct {
	user    string
	correct bool
	answer  string // "1", "0" or "error KIND"
}

// TestChaos runs the daemon in this process over eight helpers that
// misbehave at random (testscripts/chaos.py), drives it at concurrency 64
// over the generic and native protocols, and checks every answer: no wrong
// yes, ever; every request a helper answered honestly gets its right
// answer; afterwards no process, zombie, descriptor or goroutine is left.
func TestChaos(t *testing.T) {
	for _, mode := range []string{"blocking", "nonblocking"} {
		t.Run(mode, func(t *testing.T) { runChaos(t, mode, chaosRequests(t)) })
	}
}

func runChaos(t *testing.T, mode string, total int) {
	leakOpt := goleak.IgnoreCurrent()
	fdsBefore := testutil.OpenFDs(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "authpool.sock")
	helperLog := filepath.Join(dir, "chaos.log")
	logs := logBuffer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	exited := make(chan int, 1)
	go func() {
		// The timeout is generous so that an honest answer is never late,
		// even on a loaded machine: a late one would count as lost. "late"
		// answers after Timeout plus StartTimeout. The helpers are caught
		// out of step on purpose, a few times a second, so the limit
		// that would distrust them is out of reach: this test is about
		// what each request gets.
		exited <- run(ctx, []string{"serve", "--socket", sock, "--processes", "8", "--mode", mode, "--out-of-step-limit", "1000000",
			"--timeout", "2s", "--queue-timeout", "2m", "--queue", "1000", "--client-timeout", "0",
			"--log-level", "debug", "--",
			scripts(t, "chaos.py"), "--log", helperLog, "--fault-rate", "0.03", "--late-seconds", "5"},
			nil, logs, logs)
	}()
	within(t, "the daemon to listen", func() bool {
		c, err := net.Dial("unix", sock)
		if err == nil {
			c.Close()
		}
		return err == nil
	})

	const conc = 64
	results := make([][]chaosResult, conc)
	var wg sync.WaitGroup
	for g := range conc {
		wg.Go(func() {
			c, err := net.Dial("unix", sock)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			r := bufio.NewReader(c)
			native := g%2 == 1
			for i := g; i < total; i += conc {
				res := chaosResult{user: fmt.Sprintf("u%d", i)}
				var payload string
				switch i % 10 {
				case 0, 1, 2, 3:
					payload, res.correct = fmt.Sprintf("auth:%s:example.com:pw-%s", res.user, res.user), true
				case 4, 5, 6:
					payload = fmt.Sprintf("auth:%s:example.com:pw-%s-wrong", res.user, res.user)
				case 7, 8:
					payload, res.correct = fmt.Sprintf("isuser:%s:example.com", res.user), true
				default:
					res.user = "x" + res.user
					payload = fmt.Sprintf("isuser:%s:example.com", res.user)
				}
				if native {
					payload = fmt.Sprintf("%d %s", i, payload)
				}
				c.SetDeadline(time.Now().Add(60 * time.Second))
				if _, err := fmt.Fprintf(c, "%s\n", payload); err != nil {
					t.Errorf("request %d: %v", i, err)
					return
				}
				line, err := r.ReadString('\n')
				if err != nil {
					t.Errorf("request %d: no answer: %v", i, err)
					return
				}
				line = strings.TrimSuffix(line, "\n")
				if native {
					id, rest, _ := strings.Cut(line, " ")
					if id != strconv.Itoa(i) {
						t.Errorf("request %d answered with id %q", i, id)
					}
					if kind, ok := strings.CutPrefix(rest, "error "); ok {
						kind, _, _ = strings.Cut(kind, " ")
						rest = "error " + kind
					}
					line = rest
				}
				res.answer = line
				results[g] = append(results[g], res)
			}
		})
	}
	wg.Wait()
	cancel()
	select {
	case code := <-exited:
		if code != 0 {
			t.Errorf("daemon exit code %d", code)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("daemon did not shut down")
	}

	// What each helper did, per request (a request asked twice, after its
	// helper died, has two entries).
	actions := map[string][]string{}
	var helperPIDs []int
	for _, line := range strings.Split(strings.TrimSpace(readFile(t, helperLog)), "\n") {
		f := strings.Fields(line)
		pid, _ := strconv.Atoi(f[0])
		if len(f) == 2 && f[1] == "start" {
			helperPIDs = append(helperPIDs, pid)
		} else if len(f) == 3 {
			actions[f[1]] = append(actions[f[1]], f[2])
		}
	}
	faults := map[string]int{}
	for _, acts := range actions {
		for _, a := range acts {
			faults[a]++
		}
	}
	var n, wrongYes, lost, refusedHonest int
	errorKinds := map[string]int{}
	for _, rs := range results {
		for _, r := range rs {
			n++
			if strings.HasPrefix(r.answer, "error ") {
				errorKinds[r.answer]++
			}
			yes := r.answer == "1"
			switch {
			case r.answer != "1" && r.answer != "0" && !strings.HasPrefix(r.answer, "error "):
				t.Errorf("%s: answer %q is not an answer", r.user, r.answer)
			case yes && !r.correct:
				wrongYes++
				t.Errorf("WRONG YES for %s (helper did %v)", r.user, actions[r.user])
			case !yes && r.correct && !misbehaved(actions[r.user]):
				lost++
				t.Errorf("honest answer lost for %s: got %q, helper did %v", r.user, r.answer, actions[r.user])
			case r.answer != "1" && r.correct:
				refusedHonest++ // the helper misbehaved: "no" or an error is right
			}
		}
	}
	if n != total {
		t.Errorf("%d answers for %d requests", n, total)
	}

	// Every helper the daemon started is accounted for and gone, and none
	// is a zombie. (A helper killed at shutdown before its interpreter got
	// going never reports in; every one that did must be the daemon's.)
	started := map[int]bool{}
	for _, m := range regexp.MustCompile(`msg="helper started" pid=(\d+)`).FindAllStringSubmatch(logs.String(), -1) {
		pid, _ := strconv.Atoi(m[1])
		started[pid] = true
	}
	for _, pid := range helperPIDs {
		if !started[pid] {
			t.Errorf("helper %d reported in, but the daemon never started it", pid)
		}
	}
	for pid := range started {
		within(t, fmt.Sprintf("helper %d to be gone", pid), func() bool { return !alive(pid) })
	}
	if z := zombieChildren(t); len(z) > 0 {
		t.Errorf("zombie children: %v", z)
	}
	fdsAfter := testutil.OpenFDs(t)
	if fdsAfter != fdsBefore {
		t.Errorf("descriptors: %d before, %d after", fdsBefore, fdsAfter)
	}
	if err := goleak.Find(leakOpt); err != nil {
		t.Errorf("goroutines left: %v", err)
	}
	if strings.Contains(logs.String(), "pw-u") {
		t.Error("a password reached the daemon's log")
	}
	var kinds []string
	for k, v := range faults {
		if k != "honest" {
			kinds = append(kinds, fmt.Sprintf("%s=%d", k, v))
		}
	}
	sort.Strings(kinds)
	t.Logf("chaos %s: %d requests at concurrency %d over 8 helpers; faults injected: %s; helpers started: %d; "+
		"wrong yes: %d; honest answers lost: %d; requests failed by their helper: %d (%v); descriptors %d -> %d",
		mode, n, conc, strings.Join(kinds, " "), len(started), wrongYes, lost, refusedHonest, errorKinds, fdsBefore, fdsAfter)
}

// misbehaved reports whether a helper failed to answer honestly at least
// once for a request (split and flood are honest, if odd).
func misbehaved(actions []string) bool {
	for _, a := range actions {
		switch a {
		case "honest", "split", "flood":
		default:
			return true
		}
	}
	return false
}

// zombieChildren lists this process's children that exited and were never
// reaped.
func zombieChildren(t *testing.T) []int {
	t.Helper()
	ents, _ := os.ReadDir("/proc")
	var out []int
	me := os.Getpid()
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 1 && f[0] == "Z" && f[1] == strconv.Itoa(me) {
			out = append(out, pid)
		}
	}
	return out
}
