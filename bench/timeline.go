package bench

import (
	"math"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// The timeline keeps a run's outcomes and latencies by the time each
// request was due (open loop) or sent (closed loop), in slots of equal
// width: 100ms at first, doubled (neighbours merged) whenever the run
// outgrows maxSlots, so a long run costs no more memory than a short one.
// Each slot's latencies are a histogram of two significant digits (about
// 25 KiB), enough for the percentiles over time that the charts and the
// breaking point need.
const (
	slotBase = 100 * time.Millisecond
	maxSlots = 400
)

// A request counts in two slots: by the time it was due or sent (counts,
// and its latency in hist: what the load offered then met), and by the
// time it ended (done: what the target got through then).
type slot struct {
	counts counts
	done   counts
	hist   *hdrhistogram.Histogram // answered requests' latencies; nil until one
}

func newSlotHist() *hdrhistogram.Histogram { return hdrhistogram.New(1000, histMax, 2) }

func (s *slot) add(lat time.Duration, o Outcome) {
	s.counts[o]++
	if o.Answered() {
		if s.hist == nil {
			s.hist = newSlotHist()
		}
		_ = s.hist.RecordValue(min(max(lat.Nanoseconds(), 1), histMax))
	}
}

func (s *slot) merge(o *slot) {
	s.counts.add(&o.counts)
	s.done.add(&o.done)
	if o.hist != nil && o.hist.TotalCount() > 0 {
		if s.hist == nil {
			s.hist = newSlotHist()
		}
		s.hist.Merge(o.hist)
	}
}

func (s *slot) reset() {
	s.counts, s.done = counts{}, counts{}
	if s.hist != nil {
		s.hist.Reset()
	}
}

// timeline is safe for concurrent use.
type timeline struct {
	mu    sync.Mutex
	width atomic.Int64 // of a slot, in ns
	slots []*slot      // slot i holds offsets in [i·width, (i+1)·width)
}

func newTimeline() *timeline {
	t := &timeline{}
	t.width.Store(int64(slotBase))
	return t
}

// add records one request at offset off from the start.
func (t *timeline) add(off, lat time.Duration, o Outcome) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.at(off).add(lat, o)
	t.at(off + lat).done[o]++
}

// at is the slot holding off, made room for. t.mu is held.
func (t *timeline) at(off time.Duration) *slot {
	off = max(off, 0)
	w := t.width.Load()
	for int64(off)/w >= maxSlots {
		t.coarsen()
		w = t.width.Load()
	}
	i := int(int64(off) / w)
	for len(t.slots) <= i {
		t.slots = append(t.slots, &slot{})
	}
	return t.slots[i]
}

// coarsen doubles the width, merging neighbours. t.mu is held.
func (t *timeline) coarsen() {
	n := (len(t.slots) + 1) / 2
	for i := range n {
		s := t.slots[2*i]
		if 2*i+1 < len(t.slots) {
			s.merge(t.slots[2*i+1])
		}
		t.slots[i] = s
	}
	clear(t.slots[n:])
	t.slots = t.slots[:n]
	t.width.Store(2 * t.width.Load())
}

// slotCache is a recorder's slot being filled, merged into the timeline
// when the recorder moves on to a later one: one lock of the timeline per
// recorder per slot instead of one per request.
type slotCache struct {
	slot       slot
	idx, width int64
	start      time.Duration
	used       bool
}

// addCached records through c, which its owner's lock guards.
func (t *timeline) addCached(c *slotCache, off, lat time.Duration, o Outcome) {
	w := t.width.Load()
	i := int64(max(off, 0)) / w
	switch {
	case c.used && w == c.width && i == c.idx:
	case c.used && w == c.width && i < c.idx:
		// A request that began before the cached slot: rare, and
		// recorded directly.
		t.add(off, lat, o)
		return
	default:
		t.flush(c)
		c.used, c.idx, c.width, c.start = true, i, w, time.Duration(i*w)
	}
	c.slot.add(lat, o)
	if int64(max(off+lat, 0))/w == i {
		c.slot.done[o]++
		return
	}
	// Ended in a later slot: counted there directly.
	t.mu.Lock()
	t.at(off + lat).done[o]++
	t.mu.Unlock()
}

// flush merges c into the timeline. Widths only grow, so the slot that
// now holds c's start holds all of c.
func (t *timeline) flush(c *slotCache) {
	if !c.used {
		return
	}
	t.mu.Lock()
	t.at(c.start).merge(&c.slot)
	t.mu.Unlock()
	c.slot.reset()
	c.used = false
}

// Timeline is a run's requests over time, for charts: one point a slot.
// Latencies are of the requests due (or sent) in the slot; throughput and
// outcomes, of those that ended in it.
type Timeline struct {
	SlotSeconds float64     `json:"slot_seconds"`
	Points      []TimePoint `json:"points"`
}

// TimePoint is one slot of a Timeline. Latencies are in microseconds,
// zero when nothing was answered.
type TimePoint struct {
	At         float64  `json:"t"`                 // seconds from the start, at the slot's start
	Offered    float64  `json:"offered,omitempty"` // open loop: the rate due then, a second
	Throughput float64  `json:"throughput"`        // answers a second, by when they came
	P50        float64  `json:"p50"`
	P99        float64  `json:"p99"`
	P999       float64  `json:"p99_9"`
	Outcomes   Outcomes `json:"outcomes"` // of the requests that ended in the slot
}

// Round is one of the consecutive equal parts of a measured phase, whose
// spread says how much the run's numbers move by themselves.
type Round struct {
	Throughput float64 `json:"throughput"`
	P50        float64 `json:"p50"`
	P90        float64 `json:"p90"`
	P99        float64 `json:"p99"`
	P999       float64 `json:"p99_9"`
}

// DefaultRounds is how many rounds a run is cut into for Report.Rounds.
const DefaultRounds = 5

// BreakingPoint is where an open loop's latency or errors crossed a line.
type BreakingPoint struct {
	Found      bool    `json:"found"`
	At         float64 `json:"t,omitempty"`          // seconds from the start
	Offered    float64 `json:"offered,omitempty"`    // rate due then, a second
	Throughput float64 `json:"throughput,omitempty"` // answers a second then
	Reason     string  `json:"reason,omitempty"`
	// Lines crossed: p99 in microseconds, errors as a fraction of requests.
	P99Line   float64 `json:"p99_line_us"`
	ErrorLine float64 `json:"error_line"`
	// MaxOffered is the highest rate due before the break (or in the whole
	// run, when none was found).
	MaxOffered float64 `json:"max_offered"`
}

// BreakLines are the lines of the breaking point. Zero values are the
// defaults.
type BreakLines struct {
	// P99 is the latency line; zero means ten times the p99 at the start
	// of the run (the lowest load of a ramp), at least 1ms.
	P99 time.Duration
	// Errors is the fraction of requests that may fail; zero means 1%.
	Errors float64
}

// result turns the timeline into the report's points, rounds and breaking
// point. span is the measured phase's length; shape is nil for a closed
// loop.
func (t *timeline) result(span time.Duration, shape *Shape, lines BreakLines) (*Timeline, []Round, *BreakingPoint) {
	t.mu.Lock()
	defer t.mu.Unlock()
	w := time.Duration(t.width.Load())
	n := len(t.slots)
	if span > 0 {
		n = min(n, int((span+w-1)/w))
	}
	if n == 0 {
		return nil, nil, nil
	}
	// The last slot may be cut short by the end of the run.
	length := func(i int) float64 {
		if span > 0 && time.Duration(i+1)*w > span {
			return max((span - time.Duration(i)*w).Seconds(), 1e-3)
		}
		return w.Seconds()
	}
	tl := &Timeline{SlotSeconds: w.Seconds()}
	var bps []breakSlot
	us := func(h *hdrhistogram.Histogram, q float64) float64 {
		if h == nil || h.TotalCount() == 0 {
			return 0
		}
		return float64(h.ValueAtQuantile(q)) / 1e3
	}
	for i := range n {
		s := t.slots[i]
		at := time.Duration(i) * w
		p := TimePoint{
			At: at.Seconds(), Throughput: float64(s.done.answered()) / length(i),
			P50: us(s.hist, 50), P99: us(s.hist, 99), P999: us(s.hist, 99.9),
			Outcomes: s.done.outcomes(),
		}
		if shape != nil && s.counts.total() > 0 {
			// Slots where nothing was due (the tail of answers after the
			// last) offered nothing.
			p.Offered = shape.RateAt(at + w/2)
		}
		tl.Points = append(tl.Points, p)
		bps = append(bps, breakSlot{at: p.At, offered: p.Offered, throughput: p.Throughput, p99: p.P99, due: s.counts})
	}

	var rounds []Round
	if nr := min(DefaultRounds, n/2); nr >= 2 {
		for r := range nr {
			h := newSlotHist()
			var answered int64
			var secs float64
			for i := r * n / nr; i < (r+1)*n/nr; i++ {
				answered += t.slots[i].done.answered()
				secs += length(i)
				if t.slots[i].hist != nil {
					h.Merge(t.slots[i].hist)
				}
			}
			rounds = append(rounds, Round{
				Throughput: float64(answered) / secs,
				P50:        us(h, 50), P90: us(h, 90), P99: us(h, 99), P999: us(h, 99.9),
			})
		}
	}

	var bp *BreakingPoint
	if shape != nil {
		bp = breakingPoint(bps, lines)
	}
	return tl, rounds, bp
}

// minBreakSample is the fewest requests a slot needs to count towards a
// breaking point.
const minBreakSample = 10

// breakSlot is a slot as the breaking point judges it: the requests due
// in it, and their p99.
type breakSlot struct {
	at, offered, throughput, p99 float64
	due                          counts
}

// breakingPoint finds the first slot from which two in a row cross a
// line: one slot can be a pause of the machine's, two are the target.
func breakingPoint(pts []breakSlot, lines BreakLines) *BreakingPoint {
	bp := &BreakingPoint{ErrorLine: lines.Errors, P99Line: float64(lines.P99) / 1e3}
	if bp.ErrorLine <= 0 {
		bp.ErrorLine = 0.01
	}
	if bp.P99Line <= 0 {
		// Ten times the lowest-load p99: the median of the first tenth
		// of the slots that answered enough.
		var first []float64
		for _, p := range pts[:max(len(pts)/10, 1)] {
			if p.due.answered() >= minBreakSample {
				first = append(first, p.p99)
			}
		}
		bp.P99Line = 1000
		if len(first) > 0 {
			bp.P99Line = max(10*median(first), 1000)
		}
	}
	crossed := func(p breakSlot) (bool, string) {
		c := p.due
		total := c.total()
		if total < minBreakSample {
			return false, ""
		}
		if e := float64(c.errors()) / float64(total); e > bp.ErrorLine {
			return true, fmtPct(e) + " of requests failed, over the line of " + fmtPct(bp.ErrorLine)
		}
		if c.answered() > 0 && p.p99 > bp.P99Line {
			return true, "p99 " + us(p.p99) + " over the line of " + us(bp.P99Line)
		}
		return false, ""
	}
	for i, p := range pts {
		x, why := crossed(p)
		if x && (i+1 == len(pts) || func() bool { y, _ := crossed(pts[i+1]); return y }()) {
			bp.Found, bp.At, bp.Offered, bp.Throughput, bp.Reason = true, p.at, p.offered, p.throughput, why
			return bp
		}
		bp.MaxOffered = max(bp.MaxOffered, p.offered)
	}
	return bp
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func fmtPct(f float64) string {
	p := f * 100
	switch {
	case p == math.Trunc(p):
		return strconv.FormatFloat(p, 'f', 0, 64) + "%"
	case p >= 1:
		return strconv.FormatFloat(p, 'f', 1, 64) + "%"
	}
	return strconv.FormatFloat(p, 'f', 2, 64) + "%"
}
