package bench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"golang.org/x/sys/unix"

	"github.com/authpool/authpool/pool"
)

// Config describes one run. Target and Workload are required, and one of
// Duration and Requests.
type Config struct {
	Target   Target
	Workload *Workload

	// Concurrency is the number of workers: in a closed loop, the number
	// of requests in flight; in an open loop, the most that may be. Zero
	// means 1.
	Concurrency int
	// Rate, when positive, makes the loop open: that many requests a
	// second in all, each due at its time whatever the target does, and
	// each latency measured from that time.
	Rate float64
	// Shape, when not nil, makes the loop open with a rate that changes
	// over time (ramps, steps); it overrides Rate. The warmup runs at its
	// first rate above zero.
	Shape *Shape
	// Break sets the lines whose crossing is an open loop's breaking
	// point; the zero value is the defaults (see BreakLines).
	Break BreakLines

	// Duration of the measured phase, or, when Requests is positive, the
	// number of requests it sends.
	Duration time.Duration
	Requests int64
	// Warmup runs the load this long before measuring; its answers are
	// still checked.
	Warmup time.Duration

	// Progress, when not nil, is called every ProgressEvery (zero: 1s)
	// from a goroutine of the run's, and once more when a phase ends.
	Progress      func(Progress)
	ProgressEvery time.Duration

	// SampleEvery is how often the helpers' memory is read (zero: 100ms).
	SampleEvery time.Duration
	// LeakThreshold: see DefaultLeakThreshold (zero means it).
	LeakThreshold int64

	// Label, Kind and Description name the run in its report and record
	// (Report.Label, Target and Description).
	Label, Kind, Description string
	// Record, when not nil, is sent every request, warmup included.
	Record *RecordWriter
}

// Progress is a live view of a phase.
type Progress struct {
	Phase    string        // "warmup" or "measure"
	Elapsed  time.Duration // since the phase began
	Duration time.Duration // planned length, or zero when counting requests
	Done     int64         // requests finished
	Requests int64         // planned requests, or zero when timed
	Errors   int64
	Wrong    int64
	Rate     float64       // requests a second since the last call
	P99      time.Duration // of the answers since the last call
	Offered  float64       // open loop: the rate due now
	Final    bool          // the phase has ended
}

// Run runs the warmup and the measured phase and reports. It returns early
// (with a report of what was done) when ctx ends.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	switch {
	case cfg.Target == nil:
		return nil, errors.New("bench: no target")
	case cfg.Workload == nil || len(cfg.Workload.Items) == 0:
		return nil, errors.New("bench: empty workload")
	case cfg.Duration <= 0 && cfg.Requests <= 0:
		return nil, errors.New("bench: want a duration or a number of requests")
	case cfg.Rate < 0:
		return nil, errors.New("bench: negative rate")
	}
	if cfg.Shape == nil && cfg.Rate > 0 {
		cfg.Shape = ConstantShape(cfg.Rate)
	}
	if cfg.Concurrency < 1 {
		cfg.Concurrency = 1
	}
	if cfg.ProgressEvery <= 0 {
		cfg.ProgressEvery = time.Second
	}
	if cfg.SampleEvery <= 0 {
		cfg.SampleEvery = 100 * time.Millisecond
	}

	rep := &Report{
		Label:       cfg.Label,
		Target:      cfg.Kind,
		Description: cfg.Description,
		Workload:    cfg.Workload.Source,
		Load: Load{
			Mode:        "closed",
			Concurrency: cfg.Concurrency,
			Rate:        cfg.Rate,
			Requests:    cfg.Requests,
			Warmup:      cfg.Warmup.String(),
		},
		ErrorKinds: map[string]int64{},
	}
	if cfg.Shape != nil {
		rep.Load.Mode = "open"
		rep.Load.Rate = cfg.Shape.Peak()
		if !cfg.Shape.Constant() {
			rep.Load.Shape = cfg.Shape.String()
		}
		// The pacing thread holds a P while it sleeps: give it its own.
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(runtime.GOMAXPROCS(0) + 1))
	}
	if cfg.Requests <= 0 {
		rep.Load.Duration = cfg.Duration.String()
	}
	if cfg.Record != nil {
		cfg.Record.header(rep, cfg.Break)
	}
	if r, ok := cfg.Target.(Readier); ok {
		// Helpers that start late would look as if they had started
		// during the run; a crash loop shows up in the run itself.
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := r.Ready(rctx)
		cancel()
		if err != nil {
			rep.Notes = append(rep.Notes, "not every helper was running when the load began: "+err.Error())
		}
	}
	dw, _ := cfg.Target.(DefenceWatcher)
	var slowed uint64
	var watching bool
	if dw != nil {
		slowed, watching = dw.DefenceCount(ctx)
	}
	if cfg.Warmup > 0 {
		wcfg := cfg
		if cfg.Shape != nil {
			wcfg.Shape = ConstantShape(cfg.Shape.First())
		}
		w := runPhase(ctx, wcfg, "warmup", cfg.Warmup, 0, nil)
		rep.WarmupRequests, rep.WarmupWrong = w.requests(), w.wrong()
		rep.WarmupErrors = w.errors()
		rep.WrongExamples = w.examples()
	}

	mem := newMemWatcher(cfg.Target, cfg.LeakThreshold)
	ps, _ := cfg.Target.(PoolStatser)
	var before pool.Stats
	if ps != nil {
		before = ps.PoolStats()
	}
	stopSampling := make(chan struct{})
	var sampling sync.WaitGroup
	mem.sample()
	sampling.Go(func() {
		t := time.NewTicker(cfg.SampleEvery)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				mem.sample()
			case <-stopSampling:
				return
			}
		}
	})

	// A short run can end between two ticks, leaving a helper's baseline
	// (taken once it has answered) and its last sample the same: the
	// measure phase also samples after its first answer and half way
	// through. On the worker that got there, so that it happens however
	// busy the machine is: once or twice a run, some tens of µs.
	m := runPhase(ctx, cfg, "measure", cfg.Duration, cfg.Requests, mem.sample)
	close(stopSampling)
	sampling.Wait()
	mem.sample()

	rep.Start = m.start
	m.fill(rep, cfg)
	rep.Helpers, rep.Daemon = mem.report()
	for _, h := range rep.Helpers {
		if h.Replaced {
			rep.HelpersReplaced++
		}
		if h.Leaking {
			rep.Leaking = true
		}
	}
	if ps != nil {
		after := ps.PoolStats()
		rep.Pool = poolDelta(before, after)
	}
	if watching {
		if n, ok := dw.DefenceCount(context.WithoutCancel(ctx)); ok && n > slowed {
			rep.Notes = append(rep.Notes, defenceNote(n-slowed))
		}
	}
	if err := ctx.Err(); err != nil {
		rep.Notes = append(rep.Notes, "interrupted: "+err.Error())
	}
	return rep, nil
}

func poolDelta(a, b pool.Stats) *PoolReport {
	restarts := func(s pool.Stats) int {
		n := 0
		for _, h := range s.Helpers {
			n += h.Restarts
		}
		return n
	}
	return &PoolReport{
		Processes:      len(b.Helpers),
		Restarts:       restarts(b) - restarts(a),
		Spawns:         b.Spawns - a.Spawns,
		SpawnFailures:  b.SpawnFailures - a.SpawnFailures,
		Exits:          b.Exits - a.Exits,
		Timeouts:       b.Timeouts - a.Timeouts,
		ProtocolErrors: b.ProtocolErrors - a.ProtocolErrors,
		Overloaded:     b.Overloaded - a.Overloaded,
		OutOfStep:      b.OutOfStep - a.OutOfStep,
		Distrusted:     b.Distrusted - a.Distrusted,
	}
}

// phase is one run of the load: the workers, their recorders, and live
// counters for progress.
type phase struct {
	cfg   Config
	name  string
	start time.Time
	end   time.Time // when the last worker finished

	next                 atomic.Int64 // items claimed
	done, errs, wrongCnt atomic.Int64
	recs                 []*recorder
	tl                   *timeline // the measured phase's; nil in the warmup
	warmup               bool

	limit     int64  // requests in all; 0: a timed phase
	milestone func() // nil, or called after the first answer and half way
}

// maxRecorders bounds the histograms (about 100 KiB each); workers share
// them round robin.
const maxRecorders = 16

func runPhase(ctx context.Context, cfg Config, name string, d time.Duration, limit int64, milestone func()) *phase {
	ph := &phase{cfg: cfg, name: name, limit: limit, milestone: milestone, warmup: name == "warmup"}
	if !ph.warmup {
		ph.tl = newTimeline()
	}
	for range min(cfg.Concurrency, maxRecorders) {
		rec := newRecorder()
		if cfg.Progress != nil {
			rec.window = newSlotHist()
		}
		ph.recs = append(ph.recs, rec)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ph.start = time.Now()
	if cfg.Record != nil {
		cfg.Record.phaseStart(name, ph.start)
	}
	var deadline time.Time
	if limit <= 0 {
		deadline = ph.start.Add(d)
	}

	var progress sync.WaitGroup
	stopProgress := make(chan struct{})
	if cfg.Progress != nil {
		progress.Go(func() { ph.reportProgress(d, limit, stopProgress) })
	}

	var wg sync.WaitGroup
	if cfg.Shape != nil {
		due := make(chan time.Time, 1<<16)
		wg.Go(func() { pace(ctx, ph.start, cfg.Shape, deadline, limit, due) })
		for w := range cfg.Concurrency {
			wg.Go(func() {
				rec := ph.recs[w%len(ph.recs)]
				for t := range due {
					n := ph.next.Add(1)
					it := cfg.Workload.Items[(n-1)%int64(len(cfg.Workload.Items))]
					yes, err := cfg.Target.Do(ctx, w, it.Req)
					ph.record(rec, n, it, yes, err, t, time.Since(t))
				}
			})
		}
	} else {
		for w := range cfg.Concurrency {
			wg.Go(func() {
				rec := ph.recs[w%len(ph.recs)]
				for ctx.Err() == nil {
					n := ph.next.Add(1)
					if limit > 0 && n > limit {
						return
					}
					if limit <= 0 && time.Now().After(deadline) {
						return
					}
					it := cfg.Workload.Items[(n-1)%int64(len(cfg.Workload.Items))]
					t := time.Now()
					yes, err := cfg.Target.Do(ctx, w, it.Req)
					ph.record(rec, n, it, yes, err, t, time.Since(t))
				}
			})
		}
	}
	wg.Wait()
	ph.end = time.Now()
	close(stopProgress)
	progress.Wait()
	for _, r := range ph.recs {
		if ph.tl != nil {
			ph.tl.flush(&r.cache)
		}
		if cfg.Record != nil && len(r.line) > 0 {
			cfg.Record.write(r.line)
			r.line = r.line[:0]
		}
	}
	return ph
}

// pace sends each request's due time on due, at that time: request k of an
// open loop is due when the shape's rate, integrated from start, reaches k
// (k/rate seconds after start at a constant rate). When it falls behind it
// sends what is due at once; the due times, not the send times, are what
// latencies are measured from.
//
// Sleeping precisely is the hard part. A Go timer, when the process is
// otherwise idle, rounds a sleep below 1 ms up to 1 ms, which would bunch
// requests into bursts; and a goroutine returning from a blocking sleep
// needs a free P, which on a small machine busy with the load can take
// milliseconds. So pace runs on a thread of its own with a 1 µs timer
// slack, and sleeps its last millisecond with a raw nanosleep(2) that keeps
// its P: Run gives the process one P more for it (see openLoopProcs).
func pace(ctx context.Context, start time.Time, shape *Shape, deadline time.Time, limit int64, due chan<- time.Time) {
	defer close(due)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	_ = unix.Prctl(unix.PR_SET_TIMERSLACK, 1000, 0, 0, 0)
	next := shape.dueTimes()
	for k := int64(0); limit <= 0 || k < limit; k++ {
		off, ok := next()
		if !ok {
			return
		}
		t := start.Add(off)
		if limit <= 0 && t.After(deadline) {
			return
		}
		for {
			wait := time.Until(t)
			if wait <= 2*time.Microsecond {
				break
			}
			if ctx.Err() != nil {
				return
			}
			if wait > 2*time.Millisecond {
				time.Sleep(wait - time.Millisecond)
				continue
			}
			// At most 200 µs at a time, so that a stop-the-world pause,
			// which must wait for this raw sleep to end, stays short.
			ts := unix.NsecToTimespec(int64(min(wait, 200*time.Microsecond)))
			unix.RawSyscall(unix.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&ts)), 0, 0)
		}
		select {
		case due <- t:
		case <-ctx.Done():
			return
		}
	}
}

func (ph *phase) reportProgress(d time.Duration, limit int64, stop <-chan struct{}) {
	t := time.NewTicker(ph.cfg.ProgressEvery)
	defer t.Stop()
	var lastN int64
	lastT := ph.start
	win := newSlotHist()
	emit := func(now time.Time, final bool) {
		n := ph.done.Load()
		p := Progress{
			Phase: ph.name, Elapsed: now.Sub(ph.start), Done: n,
			Errors: ph.errs.Load(), Wrong: ph.wrongCnt.Load(), Final: final,
		}
		if limit > 0 {
			p.Requests = limit
		} else {
			p.Duration = d
		}
		if dt := now.Sub(lastT); dt > 0 {
			p.Rate = float64(n-lastN) / dt.Seconds()
		}
		if ph.cfg.Shape != nil {
			p.Offered = ph.cfg.Shape.RateAt(p.Elapsed)
		}
		// The p99 since the last call; at the end, the whole phase's.
		win.Reset()
		for _, r := range ph.recs {
			r.mu.Lock()
			if final {
				win.Merge(r.hist)
			} else {
				win.Merge(r.window)
			}
			r.window.Reset()
			r.mu.Unlock()
		}
		if win.TotalCount() > 0 {
			p.P99 = time.Duration(win.ValueAtQuantile(99))
		}
		if final && p.Elapsed > 0 {
			p.Rate = float64(n) / p.Elapsed.Seconds()
		}
		lastN, lastT = n, now
		ph.cfg.Progress(p)
	}
	for {
		select {
		case now := <-t.C:
			emit(now, false)
		case <-stop:
			emit(ph.end, true)
			return
		}
	}
}

func (ph *phase) record(rec *recorder, n int64, it Item, yes bool, err error, t time.Time, lat time.Duration) {
	if d := ph.done.Add(1); ph.milestone != nil && (d == 1 || d == ph.limit/2) {
		ph.milestone()
	}
	o, kind := outcomeOf(it, yes, err)
	if !o.Answered() {
		ph.errs.Add(1)
	} else if o.Wrong() {
		ph.wrongCnt.Add(1)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.count(o, kind, it.Expect != Unchecked, lat, func() string {
		// Request.String never shows the password.
		return fmt.Sprintf("%s: answered %s, expected %s", it.Req, yesNo(yes), yesNo(!yes))
	})
	if ph.tl != nil {
		ph.tl.addCached(&rec.cache, t.Sub(ph.start), lat, o)
	}
	if rec.window != nil && o.Answered() {
		_ = rec.window.RecordValue(min(max(lat.Nanoseconds(), 1), histMax))
	}
	if rw := ph.cfg.Record; rw != nil {
		rec.line = appendRecordLine(rec.line, rw, n, ph.warmup, t, lat, it, yes, o, kind)
		if len(rec.line) >= recordBatch {
			rw.write(rec.line)
			rec.line = rec.line[:0]
		}
	}
}

// falseRejectExample is 1 for an example of a false reject, 0 for a false
// accept, for sorting.
func falseRejectExample(ex string) int {
	if strings.Contains(ex, ": answered no,") {
		return 1
	}
	return 0
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

const (
	maxExamples = 5
	histMax     = int64(10 * time.Minute)
)

// recorder counts what a share of the workers, or a recorded run read
// back, saw.
type recorder struct {
	mu      sync.Mutex
	hist    *hdrhistogram.Histogram
	counts  counts
	checked int64
	kinds   map[string]int64
	// Examples of wrong answers, kept apart so that false rejects never
	// crowd out a false accept, the wrong answer that matters most.
	acceptExamples, rejectExamples []string

	cache  slotCache               // the timeline slot being filled
	window *hdrhistogram.Histogram // latencies since the last progress call; nil without progress
	line   []byte                  // record lines not yet written
}

func newRecorder() *recorder {
	// Nanoseconds from 1 µs to 10 min, three significant digits.
	return &recorder{hist: hdrhistogram.New(1000, histMax, 3), kinds: map[string]int64{}}
}

// count records one request; example describes a wrong answer, and is
// called only when one is kept. r.mu is held.
func (r *recorder) count(o Outcome, kind string, checked bool, lat time.Duration, example func() string) {
	r.counts[o]++
	if !o.Answered() {
		r.kinds[kind]++
		return
	}
	_ = r.hist.RecordValue(min(max(lat.Nanoseconds(), 1), histMax))
	if checked {
		r.checked++
	}
	switch {
	case o == OutcomeFalseAccept && len(r.acceptExamples) < maxExamples:
		r.acceptExamples = append(r.acceptExamples, example())
	case o == OutcomeFalseReject && len(r.rejectExamples) < maxExamples:
		r.rejectExamples = append(r.rejectExamples, example())
	}
}

func (ph *phase) requests() int64 { return ph.done.Load() }
func (ph *phase) wrong() int64    { return ph.wrongCnt.Load() }
func (ph *phase) errors() int64   { return ph.errs.Load() }

// examples are up to maxExamples wrong answers, false accepts first.
func (ph *phase) examples() []string { return examples(ph.recs) }

func examples(recs []*recorder) []string {
	var accepts, rejects []string
	for _, r := range recs {
		r.mu.Lock()
		accepts = append(accepts, r.acceptExamples...)
		rejects = append(rejects, r.rejectExamples...)
		r.mu.Unlock()
	}
	out := append(accepts, rejects...)
	if len(out) > maxExamples {
		out = out[:maxExamples]
	}
	return out
}

// fill puts the phase's results into rep.
func (ph *phase) fill(rep *Report, cfg Config) {
	summarize(rep, ph.recs, ph.tl, ph.end.Sub(ph.start), cfg.Shape, cfg.Break)
}

// summarize puts what recs and tl counted over span into rep: the counts,
// the latency percentiles, the timeline, the rounds and the breaking
// point. Warmup examples already in rep.WrongExamples are kept.
func summarize(rep *Report, recs []*recorder, tl *timeline, span time.Duration, shape *Shape, lines BreakLines) {
	h := hdrhistogram.New(1000, histMax, 3)
	var c counts
	for _, r := range recs {
		r.mu.Lock()
		h.Merge(r.hist)
		c.add(&r.counts)
		rep.Checked += r.checked
		for k, v := range r.kinds {
			rep.ErrorKinds[k] += v
		}
		r.mu.Unlock()
	}
	rep.hist = h
	rep.Outcomes = c.outcomes()
	rep.Yes = c[OutcomeOK] + c[OutcomeFalseAccept]
	rep.No = c[OutcomeRejected] + c[OutcomeFalseReject]
	rep.FalseAccepts, rep.FalseRejects = c[OutcomeFalseAccept], c[OutcomeFalseReject]
	rep.Wrong = rep.FalseAccepts + rep.FalseRejects
	rep.Errors = c.errors()
	// With the warmup's: false accepts first, whichever phase saw them.
	all := append(rep.WrongExamples, examples(recs)...)
	slices.SortStableFunc(all, func(a, b string) int {
		return cmp.Compare(falseRejectExample(a), falseRejectExample(b))
	})
	rep.WrongExamples = all[:min(len(all), maxExamples)]
	rep.Requests = c.total()
	rep.Seconds, rep.span = span.Seconds(), span
	if span > 0 {
		// Answers only: requests refused at once must not look like speed.
		rep.Throughput = float64(rep.Yes+rep.No) / span.Seconds()
	}
	if h.TotalCount() > 0 {
		us := func(ns int64) float64 { return float64(ns) / 1e3 }
		rep.Latency = Latency{
			P50:  us(h.ValueAtQuantile(50)),
			P90:  us(h.ValueAtQuantile(90)),
			P99:  us(h.ValueAtQuantile(99)),
			P999: us(h.ValueAtQuantile(99.9)),
			Max:  us(h.Max()),
			Mean: h.Mean() / 1e3,
		}
		for _, b := range h.CumulativeDistributionWithTicks(5) {
			rep.Distribution = append(rep.Distribution, Percentile{Percent: b.Quantile, Value: us(b.ValueAt), Count: b.Count})
		}
	}
	if tl != nil {
		rep.Timeline, rep.Rounds, rep.BreakingPoint = tl.result(span, shape, lines)
	}
}
