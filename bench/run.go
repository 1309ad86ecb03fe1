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
	Rate     float64 // requests a second since the last call
	Final    bool    // the phase has ended
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
		Workload: cfg.Workload.Source,
		Load: Load{
			Mode:        "closed",
			Concurrency: cfg.Concurrency,
			Rate:        cfg.Rate,
			Requests:    cfg.Requests,
			Warmup:      cfg.Warmup.String(),
		},
		ErrorKinds: map[string]int64{},
	}
	if cfg.Rate > 0 {
		rep.Load.Mode = "open"
		// The pacing thread holds a P while it sleeps: give it its own.
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(runtime.GOMAXPROCS(0) + 1))
	}
	if cfg.Requests <= 0 {
		rep.Load.Duration = cfg.Duration.String()
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
	if cfg.Warmup > 0 {
		w := runPhase(ctx, cfg, "warmup", cfg.Warmup, 0, nil)
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

	rep.Start = time.Now()
	// A short run can end between two ticks, leaving a helper's baseline
	// (taken once it has answered) and its last sample the same: the
	// measure phase also samples after its first answer and half way
	// through. On the worker that got there, so that it happens however
	// busy the machine is: once or twice a run, some tens of µs.
	m := runPhase(ctx, cfg, "measure", cfg.Duration, cfg.Requests, mem.sample)
	close(stopSampling)
	sampling.Wait()
	mem.sample()

	m.fill(rep)
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

	limit     int64  // requests in all; 0: a timed phase
	milestone func() // nil, or called after the first answer and half way
}

// maxRecorders bounds the histograms (about 100 KiB each); workers share
// them round robin.
const maxRecorders = 16

func runPhase(ctx context.Context, cfg Config, name string, d time.Duration, limit int64, milestone func()) *phase {
	ph := &phase{cfg: cfg, name: name, limit: limit, milestone: milestone}
	for range min(cfg.Concurrency, maxRecorders) {
		ph.recs = append(ph.recs, newRecorder())
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ph.start = time.Now()
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
	if cfg.Rate > 0 {
		due := make(chan time.Time, 1<<16)
		wg.Go(func() { pace(ctx, ph.start, cfg.Rate, deadline, limit, due) })
		for w := range cfg.Concurrency {
			wg.Go(func() {
				rec := ph.recs[w%len(ph.recs)]
				for t := range due {
					it := cfg.Workload.Items[(ph.next.Add(1)-1)%int64(len(cfg.Workload.Items))]
					yes, err := cfg.Target.Do(ctx, w, it.Req)
					ph.record(rec, it, yes, err, time.Since(t))
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
					ph.record(rec, it, yes, err, time.Since(t))
				}
			})
		}
	}
	wg.Wait()
	ph.end = time.Now()
	close(stopProgress)
	progress.Wait()
	return ph
}

// pace sends each request's due time on due, at that time: request k of an
// open loop is due k/rate seconds after start. When it falls behind it sends
// what is due at once; the due times, not the send times, are what
// latencies are measured from.
//
// Sleeping precisely is the hard part. A Go timer, when the process is
// otherwise idle, rounds a sleep below 1 ms up to 1 ms, which would bunch
// requests into bursts; and a goroutine returning from a blocking sleep
// needs a free P, which on a small machine busy with the load can take
// milliseconds. So pace runs on a thread of its own with a 1 µs timer
// slack, and sleeps its last millisecond with a raw nanosleep(2) that keeps
// its P: Run gives the process one P more for it (see openLoopProcs).
func pace(ctx context.Context, start time.Time, rate float64, deadline time.Time, limit int64, due chan<- time.Time) {
	defer close(due)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	_ = unix.Prctl(unix.PR_SET_TIMERSLACK, 1000, 0, 0, 0)
	interval := float64(time.Second) / rate
	for k := int64(0); limit <= 0 || k < limit; k++ {
		t := start.Add(time.Duration(float64(k) * interval))
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

func (ph *phase) record(rec *recorder, it Item, yes bool, err error, lat time.Duration) {
	if n := ph.done.Add(1); ph.milestone != nil && (n == 1 || n == ph.limit/2) {
		ph.milestone()
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if err != nil {
		ph.errs.Add(1)
		rec.errs++
		rec.kinds[ErrorKind(err)]++
		return
	}
	v := min(max(lat.Nanoseconds(), 1), histMax)
	_ = rec.hist.RecordValue(v)
	if yes {
		rec.yes++
	} else {
		rec.no++
	}
	if it.Expect == Unchecked {
		return
	}
	rec.checked++
	if yes == (it.Expect == ExpectYes) {
		return
	}
	ph.wrongCnt.Add(1)
	rec.wrong++
	if yes {
		rec.falseAccepts++
	} else {
		rec.falseRejects++
	}
	// Request.String never shows the password.
	ex := fmt.Sprintf("%s: answered %s, expected %s", it.Req, yesNo(yes), yesNo(!yes))
	switch {
	case yes && len(rec.acceptExamples) < maxExamples:
		rec.acceptExamples = append(rec.acceptExamples, ex)
	case !yes && len(rec.rejectExamples) < maxExamples:
		rec.rejectExamples = append(rec.rejectExamples, ex)
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

type recorder struct {
	mu                     sync.Mutex
	hist                   *hdrhistogram.Histogram
	yes, no, checked, errs int64
	wrong, falseAccepts    int64
	falseRejects           int64
	kinds                  map[string]int64
	// Examples of wrong answers, kept apart so that false rejects never
	// crowd out a false accept, the wrong answer that matters most.
	acceptExamples, rejectExamples []string
}

func newRecorder() *recorder {
	// Nanoseconds from 1 µs to 10 min, three significant digits.
	return &recorder{hist: hdrhistogram.New(1000, histMax, 3), kinds: map[string]int64{}}
}

func (ph *phase) requests() int64 { return ph.done.Load() }
func (ph *phase) wrong() int64    { return ph.wrongCnt.Load() }
func (ph *phase) errors() int64   { return ph.errs.Load() }

// examples are up to maxExamples wrong answers, false accepts first.
func (ph *phase) examples() []string {
	var accepts, rejects []string
	for _, r := range ph.recs {
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
func (ph *phase) fill(rep *Report) {
	h := hdrhistogram.New(1000, histMax, 3)
	for _, r := range ph.recs {
		r.mu.Lock()
		h.Merge(r.hist)
		rep.Yes += r.yes
		rep.No += r.no
		rep.Checked += r.checked
		rep.Wrong += r.wrong
		rep.FalseAccepts += r.falseAccepts
		rep.FalseRejects += r.falseRejects
		rep.Errors += r.errs
		for k, v := range r.kinds {
			rep.ErrorKinds[k] += v
		}
		r.mu.Unlock()
	}
	// With the warmup's: false accepts first, whichever phase saw them.
	all := append(rep.WrongExamples, ph.examples()...)
	slices.SortStableFunc(all, func(a, b string) int {
		return cmp.Compare(falseRejectExample(a), falseRejectExample(b))
	})
	rep.WrongExamples = all[:min(len(all), maxExamples)]
	rep.Requests = ph.done.Load()
	el := ph.end.Sub(ph.start)
	rep.Seconds = el.Seconds()
	if el > 0 {
		// Answers only: requests refused at once must not look like speed.
		rep.Throughput = float64(rep.Yes+rep.No) / el.Seconds()
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
	}
}
