package bench

import (
	"strings"
	"testing"
	"time"
)

// Growing past maxSlots doubles the width and loses nothing; a cached
// slot flushed after the width grew lands where its requests belong.
func TestTimelineCoarsens(t *testing.T) {
	tl := newTimeline()
	var c slotCache
	tl.addCached(&c, 50*time.Millisecond, time.Millisecond, OutcomeOK) // cached in slot 0 at 100ms
	for i := range 1000 {
		tl.add(time.Duration(i)*100*time.Millisecond, time.Millisecond, OutcomeRejected)
	}
	tl.flush(&c)
	if w := time.Duration(tl.width.Load()); w != 400*time.Millisecond || len(tl.slots) > maxSlots {
		t.Fatalf("width %v with %d slots, want 400ms", w, len(tl.slots))
	}
	var total counts
	for _, s := range tl.slots {
		total.add(&s.counts)
	}
	if total[OutcomeOK] != 1 || total[OutcomeRejected] != 1000 || tl.slots[0].counts[OutcomeOK] != 1 {
		t.Errorf("counts %v; slot 0 %v", total, tl.slots[0].counts)
	}
	// A request older than the cached slot goes straight in.
	tl.addCached(&c, 10*time.Second, time.Millisecond, OutcomeOK)
	tl.addCached(&c, time.Second, time.Millisecond, OutcomeTimeout)
	if tl.slots[2].counts[OutcomeTimeout] != 1 {
		t.Errorf("the older request was not recorded in its slot: %v", tl.slots[2].counts)
	}
}

func TestBreakingPoint(t *testing.T) {
	pt := func(at, offered, p99 float64, ok, errs int64) breakSlot {
		return breakSlot{at: at, offered: offered, throughput: float64(ok), p99: p99, due: counts{OutcomeOK: ok, OutcomeTimeout: errs}}
	}
	steady := []breakSlot{pt(0, 100, 200, 100, 0), pt(1, 200, 210, 200, 0), pt(2, 300, 220, 300, 0)}
	tests := []struct {
		name    string
		pts     []breakSlot
		lines   BreakLines
		found   bool
		offered float64
		reason  string
	}{
		{"none", steady, BreakLines{}, false, 0, ""},
		{"latency, default line", append(steady, pt(3, 400, 5000, 350, 0), pt(4, 500, 9000, 350, 0)), BreakLines{}, true, 400, "p99 5.00ms over the line of 2.00ms"},
		{"latency, own line", append(steady, pt(3, 400, 900, 390, 0), pt(4, 500, 950, 400, 0)), BreakLines{P99: 500 * time.Microsecond}, true, 400, "over the line of 500µs"},
		{"one slow slot is not a break", append(steady, pt(3, 400, 9000, 400, 0), pt(4, 500, 230, 500, 0)), BreakLines{}, false, 0, ""},
		{"errors", append(steady, pt(3, 400, 230, 380, 20), pt(4, 500, 230, 400, 100)), BreakLines{}, true, 400, "failed, over the line of 1%"},
		{"too few to judge", []breakSlot{pt(0, 1, 200, 5, 0), pt(1, 2, 99999, 5, 4), pt(2, 3, 99999, 5, 4)}, BreakLines{}, false, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bp := breakingPoint(tt.pts, tt.lines)
			if bp.Found != tt.found || bp.Offered != tt.offered || !strings.Contains(bp.Reason, tt.reason) {
				t.Errorf("%+v, want found %v at %v: %q", bp, tt.found, tt.offered, tt.reason)
			}
			if !bp.Found && bp.MaxOffered != tt.pts[len(tt.pts)-1].offered {
				t.Errorf("max offered %v", bp.MaxOffered)
			}
		})
	}
}
