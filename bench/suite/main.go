// Command suite is what "make bench" runs: it measures, in one run and on
// the same helpers, a bare loop with no pool (the baseline), the in-process
// pool, and the daemon over its socket, at several helper counts, over pty
// and pipes, with every measurement an "authpool bench" command, and writes
// the table, the ratios and the targets to BENCHMARKS.md.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/authpool/authpool/bench"
)

type options struct {
	authpool    string
	echo        string
	python      string
	credentials string
	out         string
	duration    time.Duration
	warmup      time.Duration
	reps        int
	ns          []int
	transports  []string
}

func main() {
	var o options
	var ns, transports string
	flag.StringVar(&o.authpool, "authpool", "bin/authpool", "the authpool binary")
	flag.StringVar(&o.echo, "echo", "bin/echo-helper", "the C echo helper (rows skipped if missing)")
	flag.StringVar(&o.python, "python", "testscripts/sample.py", "the Python sample helper")
	flag.StringVar(&o.credentials, "credentials", "testscripts/demo-credentials.txt", "workload")
	flag.StringVar(&o.out, "out", "BENCHMARKS.md", "report to write")
	flag.DurationVar(&o.duration, "duration", 3*time.Second, "measured phase of each run")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "warmup of each run")
	flag.IntVar(&o.reps, "reps", 2, "runs of each configuration; the best throughput counts (noise only slows a run down)")
	flag.StringVar(&ns, "n", "1,4,16", "helper counts")
	flag.StringVar(&transports, "transports", "pty,pipe", "transports")
	flag.Parse()
	for _, s := range strings.Split(ns, ",") {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			fatal(fmt.Errorf("-n %q: want helper counts like 1,4,16", ns))
		}
		o.ns = append(o.ns, n)
	}
	o.transports = strings.Split(transports, ",")
	if err := run(o); err != nil {
		fatal(err)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "bench suite:", err)
	os.Exit(1)
}

type helperSpec struct {
	name string
	path string
}

// key identifies one configuration.
type key struct {
	helper, transport string
	n                 int
	kind              string // bare, pool, daemon
}

type result struct {
	cmd string
	rep *bench.Report
}

type suite struct {
	o       options
	results map[key]*result
	lowest  map[key]float64 // lowest throughput of a configuration's runs
	order   []key
	notes   []string
	dir     string
}

func run(o options) error {
	s := &suite{o: o, results: map[key]*result{}, lowest: map[key]float64{}}
	var err error
	if s.dir, err = os.MkdirTemp("", "authpool-bench-"); err != nil {
		return err
	}
	defer os.RemoveAll(s.dir)

	var helpers []helperSpec
	if _, err := os.Stat(o.echo); err == nil {
		helpers = append(helpers, helperSpec{"echo (C)", o.echo})
	} else {
		s.notes = append(s.notes, fmt.Sprintf("The C echo helper %s is missing (no C compiler? `make bin/echo-helper` needs cc): its rows, and the targets measured with it, are skipped.", o.echo))
	}
	if _, err := exec.LookPath("python3"); err == nil {
		helpers = append(helpers, helperSpec{"sample.py", o.python})
	} else {
		s.notes = append(s.notes, "python3 is missing: the sample.py rows are skipped.")
	}
	if len(helpers) == 0 {
		return errors.New("no helper to measure")
	}

	start := time.Now()
	for rep := 0; rep < o.reps; rep++ {
		for _, h := range helpers {
			for _, tr := range o.transports {
				for _, n := range o.ns {
					s.measure(key{h.name, tr, n, "bare"}, h, s.commandArgs(h, tr, n, true), nil)
					s.measure(key{h.name, tr, n, "pool"}, h, s.commandArgs(h, tr, n, false), nil)
					s.measureDaemon(key{h.name, tr, n, "daemon"}, h)
				}
			}
		}
	}
	lat := s.latency(helpers)
	var base []*baselineRow
	if helpers[0].path == o.echo {
		base = s.baselines(helpers[0])
	}
	return s.write(helpers, lat, base, time.Since(start))
}

func (s *suite) benchArgs() []string { return s.benchArgsFor(s.o.duration) }

// benchArgsFor is benchArgs with a measured phase of d.
func (s *suite) benchArgsFor(d time.Duration) []string {
	return []string{"bench", "--credentials", s.o.credentials, "--duration", d.String(),
		"--warmup", s.o.warmup.String(), "--spawn-samples", "0", "--progress", "none", "--json"}
}

func (s *suite) commandArgs(h helperSpec, tr string, n int, bare bool) []string {
	a := append(s.benchArgs(), "--transport", tr, "--processes", strconv.Itoa(n), "--concurrency", strconv.Itoa(n))
	if bare {
		a = append(a, "--bare")
	}
	return append(a, "--", h.path)
}

// daemonConns is the number of client connections to the daemon.
const daemonConns = 16

// measure runs authpool with args and keeps the report when it is k's
// best so far, with its command: server's (nil: none), started in the
// background, then args.
func (s *suite) measure(k key, h helperSpec, args, server []string) *bench.Report {
	rep, err := s.authpool(args)
	cmd := s.o.authpool + " " + quote(args)
	if server != nil {
		cmd = s.o.authpool + " " + quote(server) + " &  " + cmd
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", cmd, err)
		s.notes = append(s.notes, fmt.Sprintf("`%s` failed: %v", cmd, err))
		return nil
	}
	fmt.Fprintf(os.Stderr, "%-10s %-4s N=%-2d %-6s %8.0f/s  p99 %7.0fµs  wrong %d  errors %d\n",
		k.helper, k.transport, k.n, k.kind, rep.Throughput, rep.Latency.P99, rep.Wrong+rep.WarmupWrong, rep.Errors)
	if rep.Wrong+rep.WarmupWrong > 0 {
		s.notes = append(s.notes, fmt.Sprintf("`%s` got %d wrong answers.", cmd, rep.Wrong+rep.WarmupWrong))
	}
	if low, ok := s.lowest[k]; !ok || rep.Throughput < low {
		s.lowest[k] = rep.Throughput
	}
	if old, ok := s.results[k]; !ok || old.rep.Throughput < rep.Throughput {
		if !ok {
			s.order = append(s.order, k)
		}
		s.results[k] = &result{cmd: cmd, rep: rep}
	}
	return rep
}

func (s *suite) measureDaemon(k key, h helperSpec) {
	sock := filepath.Join(s.dir, "authpool.sock")
	serveArgs := []string{"serve", "--socket", sock, "--transport", k.transport, "--processes", strconv.Itoa(k.n), "--log-level", "warn", noPenalties, "--", h.path}
	conc := max(daemonConns, k.n)
	args := append(s.benchArgs(), "--socket", sock, "--concurrency", strconv.Itoa(conc), "--connections", strconv.Itoa(daemonConns))
	s.withServer(serveArgs, func() { s.measure(k, h, args, serveArgs) })
}

func (s *suite) authpool(args []string) (*bench.Report, error) {
	cmd := exec.Command(s.o.authpool, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 1) {
		return nil, fmt.Errorf("%v: %s", err, strings.TrimSpace(errb.String()))
	}
	var rep bench.Report
	if jerr := json.Unmarshal(out.Bytes(), &rep); jerr != nil {
		return nil, fmt.Errorf("reading its report: %v (%s)", jerr, strings.TrimSpace(errb.String()))
	}
	return &rep, nil
}

// latencyRow is the open-loop comparison at half the bare loop's peak.
type latencyRow struct {
	helper, transport string
	n                 int
	rate              float64
	bare, pool        *bench.Report
	bareCmd, poolCmd  string
}

const latencyN = 4

// latency runs bare loop and pool in an open loop at half the bare loop's
// peak throughput, for the p99 the pool adds.
func (s *suite) latency(helpers []helperSpec) []latencyRow {
	var rows []latencyRow
	h := helpers[0]
	for _, tr := range s.o.transports {
		peak := s.results[key{h.name, tr, latencyN, "bare"}]
		if peak == nil || peak.rep.Throughput == 0 {
			continue
		}
		// Half of the lowest peak seen: at half of the best one, a run in
		// this machine's slow mode (NOTES §4) would be overloaded, and
		// measure its queue instead of the pool.
		low := s.lowest[key{h.name, tr, latencyN, "bare"}]
		row := latencyRow{helper: h.name, transport: tr, n: latencyN, rate: float64(int(low / 2))}
		// Noise only ever adds latency: of several interleaved runs, the
		// lowest p99 of each counts.
		for rep := 0; rep < s.o.reps; rep++ {
			for _, bare := range []bool{true, false} {
				args := append(s.benchArgsFor(2*s.o.duration), "--rate", strconv.Itoa(int(row.rate)),
					"--transport", tr, "--processes", strconv.Itoa(latencyN), "--concurrency", strconv.Itoa(latencyN))
				kind := "pool open"
				if bare {
					args = append(args, "--bare")
					kind = "bare open"
				}
				args = append(args, "--", h.path)
				r := s.measure(key{h.name, tr, latencyN, kind}, h, args, nil)
				if r == nil {
					continue
				}
				cmd := s.o.authpool + " " + quote(args)
				if bare && (row.bare == nil || r.Latency.P99 < row.bare.Latency.P99) {
					row.bare, row.bareCmd = r, cmd
				}
				if !bare && (row.pool == nil || r.Latency.P99 < row.pool.Latency.P99) {
					row.pool, row.poolCmd = r, cmd
				}
			}
		}
		if row.bare != nil && row.pool != nil {
			rows = append(rows, row)
		}
	}
	return rows
}

func quote(args []string) string {
	var out []string
	for _, a := range args {
		if a == "" || strings.ContainsAny(a, " \t'\"$\\*?&;|<>()") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out = append(out, a)
	}
	return strings.Join(out, " ")
}

func machine() string {
	model := "unknown"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	kernel := "unknown"
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = strings.TrimSpace(string(b))
	}
	return fmt.Sprintf("%d CPUs (nproc), %s, Linux %s, %s", runtime.NumCPU(), model, kernel, runtime.Version())
}
