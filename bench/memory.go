package bench

import (
	"sort"
	"sync"
	"time"
)

// DefaultLeakThreshold is the growth of a helper's resident size over a run
// above which it is reported as leaking (it must also be 10% of its size at
// the start).
const DefaultLeakThreshold = 1 << 20

// memWatcher samples the helpers' and the daemon's memory during a run.
type memWatcher struct {
	helpers   HelperWatcher // nil: none known
	daemon    int           // 0: none known
	threshold int64

	mu    sync.Mutex
	tick  int
	byPID map[int]*helperMem
	dmem  ProcMem
	dok   bool
}

type helperMem struct {
	pid        int
	ticks      int // samples taken
	firstTick  int
	lastTick   int
	hasBase    bool
	base, last ProcMem
	baseServed int64
	lastServed int64
	peak       int64
}

func newMemWatcher(t Target, threshold int64) *memWatcher {
	w := &memWatcher{threshold: threshold, byPID: make(map[int]*helperMem)}
	if hw, ok := t.(HelperWatcher); ok {
		w.helpers = hw
	}
	if dw, ok := t.(DaemonWatcher); ok {
		w.daemon = dw.DaemonPID()
	}
	if w.threshold <= 0 {
		w.threshold = DefaultLeakThreshold
	}
	return w
}

// sample reads every helper's memory once.
func (w *memWatcher) sample() {
	var pids []HelperPID
	if w.helpers != nil {
		pids = w.helpers.HelperPIDs()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.tick++
	for _, hp := range pids {
		m, err := ReadProcMem(hp.PID)
		if err != nil {
			continue
		}
		h := w.byPID[hp.PID]
		if h == nil {
			h = &helperMem{pid: hp.PID, firstTick: w.tick}
			w.byPID[hp.PID] = h
		}
		h.ticks++
		h.lastTick = w.tick
		// The baseline is taken once the helper has answered (it is past
		// its start-up allocations), or, when that is unknown, once it has
		// run for a second (an interpreter takes some 10 to 100 ms to
		// start, and grows meanwhile).
		// Its pid stays the same across an exec (a pyenv shim, a shell
		// wrapper), so it must also have held still for one sample.
		settled := h.ticks >= 2 && processAge(hp.PID) >= time.Second && m.RSS-h.last.RSS < max(h.last.RSS/100, 64<<10)
		if !h.hasBase && (hp.Served >= 1 || (hp.Served < 0 && settled)) {
			h.hasBase, h.base, h.baseServed = true, m, hp.Served
		}
		h.last, h.lastServed = m, hp.Served
		h.peak = max(h.peak, m.HWM, m.RSS)
	}
	if w.daemon != 0 {
		if m, err := ReadProcMem(w.daemon); err == nil {
			w.dmem, w.dok = m, true
		}
	}
}

// report summarizes the samples.
func (w *memWatcher) report() (helpers []HelperReport, daemon *ProcessReport) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, h := range w.byPID {
		r := HelperReport{
			PID:       h.pid,
			PeakRSS:   h.peak,
			EndRSS:    h.last.RSS,
			Replaced:  h.lastTick < w.tick,
			StartedIn: h.firstTick > 1,
			Served:    -1,
		}
		if h.hasBase {
			r.StartRSS = h.base.RSS
			r.Growth = h.last.RSS - h.base.RSS
			if h.baseServed >= 0 && h.lastServed >= 0 {
				r.Served = h.lastServed - h.baseServed
				if r.Served > 0 {
					r.GrowthPer1000 = r.Growth * 1000 / r.Served
				}
			}
			r.Leaking = r.Growth >= w.threshold && r.Growth*10 >= h.base.RSS
		}
		helpers = append(helpers, r)
	}
	sort.Slice(helpers, func(i, j int) bool { return helpers[i].PID < helpers[j].PID })
	if w.dok {
		daemon = &ProcessReport{PID: w.daemon, RSS: w.dmem.RSS, PeakRSS: w.dmem.HWM}
	}
	return helpers, daemon
}
