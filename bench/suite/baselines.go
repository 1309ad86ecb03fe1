package main

import (
	"bytes"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"
)

// The pool and the daemon against the least code that does their job
// (bench.DispatcherTarget, bench.Relay), on 4 C helpers over a pty with 16
// callers, in interleaved rounds. A ratio is the median of the rounds'
// ratios: each round measures every configuration within a minute, so
// its ratio is not moved by the machine changing speed between rounds
// (NOTES §4: it does, and a run stays in one mode).
const (
	baselineN       = 4
	baselineCallers = 16
	baselineRounds  = 5
)

// The baselines again, with the one check the pool makes before every
// request and they do not: output the helper wrote while idle (bench
// --idle-check). What the pool and serve lose against these is the cost of
// everything else they do.
const (
	dispatcherChecked = "dispatcher, idle check"
	relayChecked      = "relay, idle check"
)

// checkedPairs are the comparisons against the checked baselines,
// reported beside the targets.
var checkedPairs = [][2]string{
	{"pool blocking", dispatcherChecked},
	{"pool nonblocking", dispatcherChecked},
	{"serve generic", relayChecked},
	{"serve native", relayChecked},
}

// baselineRow is one configuration's throughput in each round (0: the
// round's measurement failed).
type baselineRow struct {
	kind, vs string  // vs: the kind it is compared with
	goal     float64 // the ratio to reach against vs
	runs     []float64
}

func (r *baselineRow) median() float64 {
	return median(slices.DeleteFunc(slices.Clone(r.runs), func(v float64) bool { return v == 0 }))
}

// ratioTo is the median over the rounds of r's throughput over vs's in
// the same round; 0 when no round measured both.
func (r *baselineRow) ratioTo(vs *baselineRow) float64 {
	var rs []float64
	for i := range min(len(r.runs), len(vs.runs)) {
		if r.runs[i] > 0 && vs.runs[i] > 0 {
			rs = append(rs, r.runs[i]/vs.runs[i])
		}
	}
	return median(rs)
}

// median of s, which it sorts; the upper one of an even count; 0 if empty.
func median(s []float64) float64 {
	if len(s) == 0 {
		return 0
	}
	slices.Sort(s)
	return s[len(s)/2]
}

// baselines measures the rows of issue 13's targets on the C echo helper.
func (s *suite) baselines(h helperSpec) []*baselineRow {
	rows := []*baselineRow{
		{kind: "dispatcher"},
		{kind: dispatcherChecked},
		{kind: "pool blocking", vs: "dispatcher", goal: 0.95},
		{kind: "pool nonblocking", vs: "dispatcher", goal: 0.95},
		{kind: "relay"},
		{kind: relayChecked},
		{kind: "serve generic", vs: "relay", goal: 0.9},
		{kind: "serve native", vs: "relay", goal: 0.9},
	}
	n, c := strconv.Itoa(baselineN), strconv.Itoa(baselineCallers)
	inProcess := func(extra ...string) []string {
		a := append(s.benchArgs(), "--transport", "pty", "--processes", n, "--concurrency", c)
		return append(append(a, extra...), "--", h.path)
	}
	for range baselineRounds {
		for _, r := range rows {
			var args, server []string
			switch r.kind {
			case "dispatcher":
				args = inProcess("--dispatcher")
			case dispatcherChecked:
				args = inProcess("--dispatcher", "--idle-check")
			case "pool blocking":
				args = inProcess("--mode", "blocking")
			case "pool nonblocking":
				args = inProcess("--mode", "nonblocking")
			default:
				sock := filepath.Join(s.dir, "baseline.sock")
				server = []string{"serve", "--socket", sock, "--transport", "pty", "--processes", n, "--log-level", "warn", noPenalties, "--", h.path}
				switch r.kind {
				case "relay":
					server = []string{"bench", "--relay", sock, "--transport", "pty", "--processes", n, "--log-level", "warn", "--", h.path}
				case relayChecked:
					server = []string{"bench", "--relay", sock, "--idle-check", "--transport", "pty", "--processes", n, "--log-level", "warn", "--", h.path}
				}
				args = append(s.benchArgs(), "--socket", sock, "--concurrency", c, "--connections", c)
				if r.kind == "serve native" {
					args = append(args, "--native")
				}
			}
			k := key{h.name, "pty", baselineN, r.kind}
			v := 0.0
			s.withServer(server, func() {
				if rep := s.measure(k, h, args, server); rep != nil {
					v = rep.Throughput
				}
			})
			r.runs = append(r.runs, v)
		}
	}
	return rows
}

// withServer runs an authpool server command (none when args is nil; its
// socket is args[2]) for the length of f, once the socket accepts
// connections. It does not run f when the server does not start.
func (s *suite) withServer(args []string, f func()) {
	if args == nil {
		f()
		return
	}
	sock := args[2]
	d := exec.Command(s.o.authpool, args...)
	var logs bytes.Buffer
	d.Stderr = &logs
	if err := d.Start(); err != nil {
		s.notes = append(s.notes, fmt.Sprintf("starting `%s` failed: %v", quote(args), err))
		return
	}
	defer func() {
		d.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- d.Wait() }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			d.Process.Kill()
			<-done
		}
	}()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		c, err := net.Dial("unix", sock)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			s.notes = append(s.notes, fmt.Sprintf("`%s` did not listen: %v\n%s", quote(args), err, logs.String()))
			return
		}
	}
	f()
}

// noPenalties turns the daemon's guessing defence off in every daemon row:
// the workload's wrong passwords, sent thousands of times a second with
// no client address, are what a guesser sends, and the defence would make
// the rows measure its penalties rather than the request path. Its own
// cost on a clean login is penalty's BenchmarkGuard.
const noPenalties = "--penalty-base=0"
