package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/url"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/authpool/authpool/bench"
	"github.com/authpool/authpool/pool"
	"github.com/authpool/authpool/ptyproc"
	"github.com/authpool/authpool/server"
)

const benchUsage = `usage: authpool bench [flags] [-- COMMAND ARGS...]
       authpool bench report [flags] RECORD...    report recorded runs again
       authpool bench compare [--json] A B        two runs side by side

Load-test an auth helper, a running daemon, or an HTTP auth API; check every
answer; report throughput, latency percentiles, errors, wrong answers and
the helpers' memory.

Targets (one):
  --command "CMD ARGS" or -- CMD ARGS   helpers in an in-process pool, set up
                                        with the flags of "authpool serve"
  --command ... --bare                  the same helpers driven by a bare loop,
                                        no pool: the baseline
  --command ... --dispatcher            the same helpers shared by the workers
                                        through a channel of idle helpers: the
                                        least code that does the pool's job
  --socket PATH [--native]              a running daemon (authpool serve), in
                                        the generic or the native protocol

Baseline server: --relay PATH --command ... serves the helpers on PATH with
the least code that does the daemon's job (one goroutine per connection,
each line handed to an idle helper, generic protocol) until interrupted;
bench it with --socket PATH. --idle-check gives --bare, --dispatcher and
--relay the one check the pool makes before each request (output written
while the helper was idle).
  --http URL                            an HTTP API like Prosody's mod_auth_http

The pool's flags are serve's (--processes, --timeout, --max-requests, ...);
with --socket or --http, --timeout bounds each whole request.

Load: --concurrency C alone is a closed loop; --rate an open loop, its
latency measured from each request's due time. --rate takes a shape:
  2000                      2000 requests a second
  1000:40000:30s            a ramp from 1000 to 40000 a second over 30s
  1000:40000:30s:5          the same in 5 equal steps
  1000@10s,2000@10s,4000    stages: each rate for its time, the last held
Without --duration, a shape runs for its length. An open loop reports its
breaking point: the rate at which p99 crossed --break-p99 or errors
crossed --break-errors, two slots of the timeline in a row.

Workload: --credentials FILE, lines "op:user:server[:password] EXPECTED"
(EXPECTED 1 or 0, after the last blank); or --mix valid=60,invalid=30,
unknown=10 (also isuser, nouser) over --users generated users, written to
--users-file for a helper that reads such a file, or the users of
--users-from FILE (a users file the helper already reads), with --repeat
of the requests asking again what one of the 16 before asked (cache hits);
otherwise --users generated users that no helper knows, whose every auth
and isuser must be answered 0 (with --users-file, as many users that must
be accepted are written there first).

Output: the report on stdout (--json for machines); --record FILE, every
request as a JSON line (users, never passwords), for "bench report" and
"bench compare"; --hgrm FILE, the latency distribution in HdrHistogram's
percentile format; --html FILE, one self-contained page of charts.

Exit status:
  0  every checked answer was right and every --threshold was met
  1  a wrong answer, or the pool stopped trusting the helpers (out of step)
  2  a usage or setup error, an output that could not be written, no
     request answered at all (refused, 401, timeouts...), or no answer
     that could be checked
  3  a --threshold was not met (and nothing above went wrong)
Thresholds (repeatable): ` + bench.ThresholdHelp + `.

flags:
`

// benchFlags are authpool bench's settings.
type benchFlags struct {
	pool serveFlags // the pool's flags, as serve has them (registerPool); with --socket or --http, --timeout bounds a whole request

	bare       bool
	dispatcher bool
	relay      string
	idleCheck  bool
	native     bool
	socket     string
	httpURL    string
	httpCreds  string
	conns      int

	concurrency int
	rate        string
	duration    time.Duration
	requests    int64
	warmup      time.Duration

	credentials string
	users       int
	usersFile   string
	usersFrom   string
	mix         string
	repeat      float64
	seed        uint64

	label       string
	record      string
	hgrm        string
	html        string
	thresholds  []bench.Threshold
	breakP99    time.Duration
	breakErrors string

	json          bool
	progress      string
	spawnSamples  int
	leakKiB       int64
	sampleEvery   time.Duration
	cpuProfile    string
	logLevel      string
	progressEvery time.Duration
}

func (f *benchFlags) register(fs *flag.FlagSet) {
	f.pool.registerPool(fs)

	fs.BoolVar(&f.bare, "bare", false, "with a command: drive the helpers with a bare loop, no pool (the baseline; worker i always uses helper i mod --processes)")
	fs.BoolVar(&f.dispatcher, "dispatcher", false, "with a command: share the helpers among the workers through a channel of idle helpers, no pool (the pool's baseline)")
	fs.StringVar(&f.relay, "relay", "", "with a command: serve the helpers on this Unix socket with a minimal relay (the daemon's baseline) until interrupted")
	fs.BoolVar(&f.idleCheck, "idle-check", false, "with --bare, --dispatcher or --relay: before each request, look for output the helper wrote while idle, as the pool does (one read syscall); the baseline with the pool's safety check")
	fs.BoolVar(&f.native, "native", false, "with --socket: speak the native protocol (ids, answers out of order) through the Go client")
	fs.StringVar(&f.socket, "socket", "", "bench the daemon serving on this Unix socket")
	fs.StringVar(&f.httpURL, "http", "", "bench the HTTP auth API under this URL prefix (GET check_password, user_exists; POST set_password)")
	fs.StringVar(&f.httpCreds, "http-credentials-file", "", "with --http: read the API's USER:PASSWORD from this file (else $AUTHPOOL_HTTP_CREDENTIALS)")
	fs.IntVar(&f.conns, "connections", 0, "with --socket or --http: connections to open; requests beyond them are pipelined (0: concurrency, at most 16)")

	fs.IntVar(&f.concurrency, "concurrency", 0, "closed loop: requests in flight; open loop: the most that may be (0: --processes for a command, 16 otherwise)")
	fs.StringVar(&f.rate, "rate", "", "open loop: requests a second in all, or a shape (RATE, FROM:TO:DURATION[:STEPS], RATE@DURATION,...); latency measured from each one's due time (none: closed loop)")
	fs.DurationVar(&f.duration, "duration", 10*time.Second, "length of the measured phase; a shape's own length when --rate is one (0: none, with --requests)")
	fs.Int64Var(&f.requests, "requests", 0, "send this many requests instead of running for --duration (0: run for --duration)")
	fs.DurationVar(&f.warmup, "warmup", time.Second, "load before measuring, answers still checked (0: none)")

	fs.StringVar(&f.credentials, "credentials", "", "workload file: lines \"op:user:server[:password] EXPECTED\", EXPECTED 1 or 0")
	fs.IntVar(&f.users, "users", 1000, "without --credentials: number of generated users")
	fs.StringVar(&f.usersFile, "users-file", "", "without --credentials: also write as many known users to this file (user@server:password lines) and expect them accepted")
	fs.StringVar(&f.usersFrom, "users-from", "", "with --mix: the known users are those of this users file (user@server:password lines), which the helper reads")
	fs.StringVar(&f.mix, "mix", "", "generate the workload: weights of valid, invalid, unknown, isuser and nouser requests, e.g. valid=60,invalid=30,unknown=10")
	fs.Float64Var(&f.repeat, "repeat", 0, "with --mix: the fraction of requests, up to 1, that ask again what one of the 16 before asked, for a cache's hit ratio (0: none)")
	fs.Uint64Var(&f.seed, "seed", 0, "seed of the generated users and workload (0: a new one each run)")

	fs.StringVar(&f.label, "label", "", "name of the run in reports, records and charts")
	fs.StringVar(&f.record, "record", "", "write every request to this file as a JSON line (no passwords; mode 0600), for \"bench report\" and \"bench compare\"")
	fs.StringVar(&f.hgrm, "hgrm", "", "write the latency distribution to this file in HdrHistogram's percentile-distribution format (milliseconds)")
	fs.StringVar(&f.html, "html", "", "write a self-contained HTML page of charts to this file")
	fs.Func("threshold", "fail with exit status 3 unless this holds, e.g. p99<5ms, errors<0.1%, wrong=0, throughput>=1000 (repeatable)", func(s string) error {
		t, err := bench.ParseThreshold(s)
		if err == nil {
			f.thresholds = append(f.thresholds, t)
		}
		return err
	})
	fs.DurationVar(&f.breakP99, "break-p99", 0, "open loop: the p99 whose crossing is the breaking point (0: ten times the p99 at the start, at least 1ms)")
	fs.StringVar(&f.breakErrors, "break-errors", "1%", "open loop: the share of failed requests whose crossing is the breaking point")

	fs.BoolVar(&f.json, "json", false, "write the report as JSON on stdout")
	fs.StringVar(&f.progress, "progress", "auto", "live progress on stderr: bar, lines, none, or auto (a bar on a terminal, lines otherwise)")
	fs.DurationVar(&f.progressEvery, "progress-every", 0, "progress interval (0: 100ms for the bar, 1s for lines)")
	fs.IntVar(&f.spawnSamples, "spawn-samples", 3, "with a command: helpers started one by one to time spawn to first answer (0: skip)")
	fs.Int64Var(&f.leakKiB, "leak-threshold", bench.DefaultLeakThreshold>>10, "KiB a helper's RSS may grow over the run before it is reported as leaking (it must also grow 10%)")
	fs.DurationVar(&f.sampleEvery, "sample-every", 100*time.Millisecond, "how often the helpers' memory is read")
	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of this process (load generator and, for a command, the pool) to this file")
	fs.StringVar(&f.logLevel, "log-level", "warn", "pool and helper log level: debug, info, warn or error")
}

func benchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "report":
			return benchReportCmd(args[1:], stdout, stderr)
		case "compare":
			return benchCompareCmd(args[1:], stdout, stderr)
		}
	}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f benchFlags
	f.register(fs)
	fs.Usage = func() {
		fmt.Fprint(stderr, benchUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "authpool bench: %v\n", err)
		return 2
	}
	if err := checkNumbers(fs); err != nil {
		return fail(err)
	}
	seen := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { seen[fl.Name] = true })

	hasCommand := f.pool.command != "" || fs.NArg() > 0
	targets := 0
	for _, b := range []bool{hasCommand, f.socket != "", f.httpURL != ""} {
		if b {
			targets++
		}
	}
	switch {
	case targets != 1:
		return fail(errors.New("give exactly one target: --command (or -- COMMAND), --socket or --http"))
	case f.bare && !hasCommand:
		return fail(errors.New("--bare needs a helper command"))
	case f.dispatcher && !hasCommand:
		return fail(errors.New("--dispatcher needs a helper command"))
	case f.relay != "" && !hasCommand:
		return fail(errors.New("--relay needs a helper command"))
	case f.idleCheck && !f.bare && !f.dispatcher && f.relay == "":
		return fail(errors.New("--idle-check is for a baseline: --bare, --dispatcher or --relay (the pool always checks)"))
	case f.bare && f.dispatcher:
		return fail(errors.New("--bare or --dispatcher, not both"))
	case f.native && f.socket == "":
		return fail(errors.New("--native needs --socket"))
	case f.httpCreds != "" && f.httpURL == "":
		return fail(errNoCredentialsTarget)
	case f.requests <= 0 && f.duration <= 0:
		return fail(errors.New("want a positive --duration or --requests"))
	case f.concurrency < 0 || f.conns < 0 || f.warmup < 0 || f.breakP99 < 0:
		return fail(errors.New("negative --concurrency, --connections, --warmup or --break-p99"))
	case f.mix != "" && f.credentials != "":
		return fail(errors.New("--mix or --credentials, not both"))
	case f.mix == "" && (f.usersFrom != "" || seen["repeat"]):
		return fail(errors.New("--users-from and --repeat need --mix"))
	case f.usersFrom != "" && f.usersFile != "":
		return fail(errors.New("--users-from or --users-file, not both"))
	}
	var shape *bench.Shape
	if f.rate != "" {
		var err error
		if shape, err = bench.ParseShape(f.rate); err != nil {
			return fail(err)
		}
		// A shape runs for its length unless told otherwise; a held last
		// rate, for the default duration more.
		if l := shape.Length(); l > 0 && !seen["duration"] && f.requests <= 0 {
			if shape.Stages[len(shape.Stages)-1].Dur > 0 {
				f.duration = l
			} else {
				f.duration += l
			}
		}
	}
	breakLines := bench.BreakLines{P99: f.breakP99}
	if v, err := parsePercent(f.breakErrors); err != nil {
		return fail(fmt.Errorf("--break-errors: %w", err))
	} else {
		breakLines.Errors = v
	}
	if f.concurrency == 0 {
		f.concurrency = 16
		if hasCommand {
			f.concurrency = f.pool.processes
		}
	}
	if f.conns == 0 {
		f.conns = min(f.concurrency, 16)
	}

	log, _, err := newLogger(f.logLevel, "text", stderr)
	if err != nil {
		return fail(err)
	}
	if f.relay != "" {
		return serveRelay(ctx, &f, fs.Args(), log, fail)
	}

	// The outputs first, so that a bad path fails before the load.
	outs, err := openBenchOutputs(f.record, f.hgrm, f.html)
	if err != nil {
		return fail(err)
	}
	defer outs.close()
	seed := f.seed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}

	// The workload first: a users file must exist before helpers read it.
	var wl *bench.Workload
	if f.mix != "" {
		if wl, err = mixWorkload(&f, seed); err != nil {
			return fail(err)
		}
	} else if f.credentials != "" {
		fh, err := os.Open(f.credentials)
		if err != nil {
			return fail(err)
		}
		wl, err = bench.ParseCredentials(fh, f.credentials)
		fh.Close()
		if err != nil {
			return fail(err)
		}
	} else {
		var uw io.Writer
		if f.usersFile != "" {
			fh, err := os.OpenFile(f.usersFile, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
			if err != nil {
				return fail(err)
			}
			defer fh.Close()
			uw = fh
		}
		if wl, err = bench.Generate(f.users, uw, seed); err != nil {
			return fail(err)
		}
	}

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	var target bench.Target
	var desc, kind string
	var notes []string
	var spawn *bench.SpawnReport
	switch {
	case hasCommand:
		cfg, err := f.pool.poolConfig(fs.Args(), log)
		if err != nil {
			return fail(err)
		}
		// As serve does: a helper that cannot start is named, with why
		// and its last stderr lines, before any load.
		if err := pool.Probe(ctx, cfg); err != nil {
			return fail(err)
		}
		if f.spawnSamples > 0 {
			spawn, err = bench.MeasureSpawn(ctx, ptyproc.Config{Args: cfg.Command, Env: cfg.Env, Dir: cfg.Dir, Transport: cfg.Transport},
				cfg.Protocol, f.spawnSamples, cfg.Timeout)
			if err != nil {
				return fail(fmt.Errorf("timing the helper's start: %w", err))
			}
		}
		cmdline := strings.Join(cfg.Command, " ")
		bareCfg := bench.BareConfig{
			Command: cfg.Command, Env: cfg.Env, Dir: cfg.Dir, Transport: cfg.Transport,
			Protocol: cfg.Protocol, Processes: cfg.Processes, Timeout: cfg.Timeout, IdleCheck: f.idleCheck,
		}
		switch {
		case f.dispatcher:
			kind = "dispatcher"
			desc = fmt.Sprintf("dispatcher, no pool: %s share %s over %s through a channel: %s", bench.Count(f.concurrency, "worker"), bench.Count(cfg.Processes, "helper"), cfg.Transport, cmdline)
			target, err = bench.NewDispatcher(bareCfg)
		case f.bare:
			kind = "bare"
			desc = fmt.Sprintf("bare loop, no pool: %s over %s: %s", bench.Count(cfg.Processes, "helper"), cfg.Transport, cmdline)
			target, err = bench.NewBare(bareCfg)
			if f.concurrency != cfg.Processes {
				notes = append(notes, fmt.Sprintf("bare loop with %s on %s: workers share helpers", bench.Count(f.concurrency, "worker"), bench.Count(cfg.Processes, "helper")))
			}
		default:
			kind = "pool"
			desc = fmt.Sprintf("in-process pool: %s, %s, %s, %s protocol: %s", bench.Count(cfg.Processes, "helper"), cfg.Transport, cfg.Mode, cfg.Protocol, cmdline)
			var p *pool.Pool
			p, err = pool.New(cfg)
			if err == nil {
				target = bench.PoolTarget{Pool: p}
			}
		}
		if err != nil {
			return fail(err)
		}
	case f.socket != "" && f.native:
		kind, desc = "socket", "daemon on "+f.socket+", native protocol"
		nt, err := bench.DialNative(f.socket, f.conns, f.pool.timeout)
		if err != nil {
			return fail(err)
		}
		target = nt
	case f.socket != "":
		kind, desc = "socket", "daemon on "+f.socket
		st, err := bench.DialSocket(f.socket, f.conns, f.concurrency, f.pool.timeout)
		if err != nil {
			return fail(err)
		}
		target = st
		notes = append(notes, "the daemon answers 0 for any failure: its errors show as no answers (wrong ones where yes was expected)")
		if st.DaemonPID() == 0 {
			notes = append(notes, "the daemon's pid is unknown (SO_PEERCRED failed): its memory and its helpers' are not measured")
		}
	default:
		kind, desc = "http", "HTTP API at "+redactURL(f.httpURL)
		ht, err := bench.NewHTTP(f.httpURL, f.conns, f.pool.timeout)
		if err != nil {
			return fail(err)
		}
		user, pass, err := httpClientCredentials(f.httpCreds)
		if err != nil {
			return fail(err)
		}
		if user != "" {
			ht.SetBasicAuth(user, pass)
		}
		target = ht
		notes = append(notes, "helpers behind an HTTP API are not visible: their memory is not measured")
	}
	defer target.Close()

	if f.cpuProfile != "" {
		pf, err := os.Create(f.cpuProfile)
		if err != nil {
			return fail(err)
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return fail(err)
		}
		defer pprof.StopCPUProfile()
	}

	prog, err := newProgress(f.progress, f.progressEvery, stderr)
	if err != nil {
		return fail(err)
	}
	var record *bench.RecordWriter
	if outs.record != nil {
		record = bench.NewRecordWriter(outs.record)
	}
	rep, err := bench.Run(ctx, bench.Config{
		Target:        target,
		Workload:      wl,
		Concurrency:   f.concurrency,
		Shape:         shape,
		Break:         breakLines,
		Label:         f.label,
		Kind:          kind,
		Description:   desc,
		Record:        record,
		Duration:      f.duration,
		Requests:      f.requests,
		Warmup:        f.warmup,
		Progress:      prog.update,
		ProgressEvery: prog.every,
		SampleEvery:   f.sampleEvery,
		LeakThreshold: f.leakKiB << 10,
	})
	prog.done()
	if err != nil {
		return fail(err)
	}
	rep.Target, rep.Description, rep.Spawn = kind, desc, spawn
	if kind == "socket" || kind == "http" {
		rep.Load.Connections = f.conns
	}
	if wl.Checked() == 0 {
		notes = append(notes, "no answer was checked: the workload has no expected answers")
	} else if f.credentials == "" && f.usersFile == "" && (f.mix == "" || f.usersFrom == "") {
		notes = append(notes, "generated absent users only: just refusals were checked; give --credentials to check acceptances too")
	}
	rep.Notes = append(notes, rep.Notes...)
	met := bench.JudgeAll(rep, f.thresholds)

	if f.json {
		err = rep.WriteJSON(stdout)
	} else {
		err = rep.WriteText(stdout)
	}
	if err != nil {
		return fail(err)
	}
	if record != nil {
		if err := record.Finish(rep); err != nil {
			return fail(fmt.Errorf("writing the record %s: %w", f.record, err))
		}
	}
	if err := outs.write([]*bench.Report{rep}); err != nil {
		return fail(err)
	}
	if code := benchVerdict(rep, stderr); code != 0 || met {
		return code
	}
	return thresholdsFailed(rep, stderr)
}

// benchVerdict is the exit status of a run, thresholds aside: wrong
// answers first (someone may have got in), then a run that measured
// nothing.
func benchVerdict(rep *bench.Report, stderr io.Writer) int {
	if rep.Wrong+rep.WarmupWrong > 0 {
		fmt.Fprintf(stderr, "authpool bench: %d wrong answers\n", rep.Wrong+rep.WarmupWrong)
		return 1
	}
	if rep.Pool != nil && rep.Pool.Distrusted > 0 {
		// The pool caught what would have been wrong answers first.
		fmt.Fprintf(stderr, "authpool bench: the pool stopped trusting the helpers: caught out of step %d times\n", rep.Pool.OutOfStep)
		return 1
	}
	// Nothing measured is not a pass: a target that refused every request
	// (connection refused, HTTP 401) has no throughput worth reporting.
	if rep.Yes+rep.No == 0 {
		fmt.Fprintf(stderr, "authpool bench: no request was answered (%d failed: %s)\n", rep.Errors+rep.WarmupErrors, errorKinds(rep.ErrorKinds))
		return 2
	}
	if rep.Checked == 0 {
		fmt.Fprintln(stderr, "authpool bench: no answer could be checked: give a workload with expected answers (--credentials)")
		return 2
	}
	return 0
}

// exitThresholds is the exit status when a --threshold was not met.
const exitThresholds = 3

func thresholdsFailed(rep *bench.Report, stderr io.Writer) int {
	for _, t := range rep.Thresholds {
		if !t.Pass {
			fmt.Fprintf(stderr, "authpool bench: threshold %s not met: %s\n", t.Spec, t.Got)
		}
	}
	return exitThresholds
}

// errorKinds lists error kinds and counts, most frequent first.
func errorKinds(kinds map[string]int64) string {
	if len(kinds) == 0 {
		return "no errors recorded"
	}
	names := slices.Collect(maps.Keys(kinds))
	slices.SortFunc(names, func(a, b string) int { return cmp.Or(cmp.Compare(kinds[b], kinds[a]), cmp.Compare(a, b)) })
	parts := make([]string, len(names))
	for i, k := range names {
		parts[i] = fmt.Sprintf("%s %d", k, kinds[k])
	}
	return strings.Join(parts, ", ")
}

// progress shows a run's progress on stderr: a bar on a terminal, a plain
// line a second otherwise.
type progress struct {
	w     io.Writer
	mode  string // bar, lines or none
	every time.Duration
	bar   *progressbar.ProgressBar
	phase string
}

func newProgress(mode string, every time.Duration, w io.Writer) (*progress, error) {
	p := &progress{w: w, mode: mode}
	if mode == "auto" {
		p.mode = "lines"
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			p.mode = "bar"
		}
	}
	switch p.mode {
	case "bar":
		p.every = 100 * time.Millisecond
	case "lines":
		p.every = time.Second
	case "none":
	default:
		return nil, fmt.Errorf("--progress %q: want auto, bar, lines or none", mode)
	}
	if every > 0 {
		p.every = every
	}
	return p, nil
}

func (p *progress) update(pr bench.Progress) {
	switch p.mode {
	case "none":
		return
	case "lines":
		of := ""
		if pr.Requests > 0 {
			of = fmt.Sprintf("/%d", pr.Requests)
		} else {
			of = fmt.Sprintf(" in %.1fs/%s", pr.Elapsed.Seconds(), pr.Duration)
		}
		end := ""
		if pr.Final {
			end = " (done)"
		}
		fmt.Fprintf(p.w, "%-7s %d%s requests  %.0f/s%s  p99 %s  errors %d  wrong %d%s\n", pr.Phase, pr.Done, of, pr.Rate, offered(pr), p99Text(pr), pr.Errors, pr.Wrong, end)
		return
	}
	if p.bar == nil || p.phase != pr.Phase {
		p.finishBar()
		max := pr.Requests
		if max == 0 {
			max = pr.Duration.Milliseconds()
		}
		p.phase = pr.Phase
		// The bar's own clock starts when the bar is drawn, a tick after
		// the phase: the run's clock (pr.Elapsed) is shown instead.
		p.bar = progressbar.NewOptions64(max,
			progressbar.OptionSetWriter(p.w),
			progressbar.OptionSetWidth(30),
			progressbar.OptionSetElapsedTime(false),
			progressbar.OptionSetPredictTime(false),
			progressbar.OptionThrottle(50*time.Millisecond),
			progressbar.OptionSetRenderBlankState(true),
		)
	}
	p.bar.Describe(fmt.Sprintf("%-7s %5.1fs %7.0f/s%s  p99 %s  errors %d  wrong %d", pr.Phase, pr.Elapsed.Seconds(), pr.Rate, offered(pr), p99Text(pr), pr.Errors, pr.Wrong))
	if pr.Requests > 0 {
		p.bar.Set64(pr.Done)
	} else {
		p.bar.Set64(min(pr.Elapsed.Milliseconds(), pr.Duration.Milliseconds()))
	}
	if pr.Final {
		p.finishBar()
	}
}

// offered is the rate due, for an open loop.
func offered(pr bench.Progress) string {
	if pr.Offered <= 0 {
		return ""
	}
	return fmt.Sprintf(" (of %.0f/s)", pr.Offered)
}

// p99Text is the progress's p99, "-" when nothing was answered.
func p99Text(pr bench.Progress) string {
	if pr.P99 <= 0 {
		return "-"
	}
	return pr.P99.Round(time.Microsecond).String()
}

func (p *progress) finishBar() {
	if p.bar != nil {
		p.bar.Finish()
		fmt.Fprintln(p.w)
		p.bar = nil
	}
}

func (p *progress) done() { p.finishBar() }

// serveRelay runs the daemon's baseline (bench.Relay) until interrupted.
func serveRelay(ctx context.Context, f *benchFlags, args []string, log *slog.Logger, fail func(error) int) int {
	cfg, err := f.pool.poolConfig(args, log)
	if err != nil {
		return fail(err)
	}
	r, err := bench.NewRelay(bench.BareConfig{
		Command: cfg.Command, Env: cfg.Env, Dir: cfg.Dir, Transport: cfg.Transport,
		Protocol: cfg.Protocol, Processes: cfg.Processes, Timeout: cfg.Timeout, IdleCheck: f.idleCheck,
	})
	if err != nil {
		return fail(err)
	}
	// Owner only: the relay checks nobody's credentials.
	l, err := server.ListenUnix(f.relay, 0o600, -1)
	if err != nil {
		r.Close()
		return fail(err)
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log.Info("relay serving", "socket", f.relay, "processes", cfg.Processes)
	if err := r.Serve(ctx, l); err != nil {
		return fail(err)
	}
	return 0
}

// redactURL is u without the password of its user:password@ part, for
// printing.
func redactURL(u string) string {
	pu, err := url.Parse(u)
	if err != nil {
		return "(an unparsable URL)"
	}
	return pu.Redacted()
}
