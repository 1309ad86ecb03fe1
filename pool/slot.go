package pool

import (
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/authpool/authpool/ptyproc"
)

type slotState uint8

const (
	slotStarting  slotState = iota // a helper is being started
	slotReady                      // a helper is running
	slotBackoff                    // waiting before the next start
	slotStopped                    // the pool is shut down
	slotUntrusted                  // the command is untrusted: no helper runs
	slotProbing                    // a helper is being probed to trust the command again
)

// HelperState names s for HelperStats.
func (s slotState) HelperState() HelperState { return HelperStates()[s] }

// slot is one of the pool's Processes places. Its goroutine, run, owns the
// helper in it from start to end and decides when to start the next one.
type slot struct {
	id int
	p  *Pool

	// Guarded by p.mu.
	state     slotState
	cur       *helper
	restarts  int
	recycling bool   // holds the pool's recycling place until the next helper is up
	epoch     uint64 // the trust epoch the helper being started will belong to

	// removed: Reconfigure shrank the pool, and this slot ends once its
	// helper is recycled.
	removed atomic.Bool

	// poke wakes the slot's goroutine to look again at whether its helper
	// should be recycled (a reload, or the recycling place came free).
	poke chan struct{}

	// Only run changes failures; available reads it under p.mu.
	failures atomic.Int32 // helpers in a row that failed to start or died by themselves
}

// quickRestarts is how many failures in a row restart a helper at once. It
// is two because a request that crashes its helper is asked once more, so a
// single bad request can cost two helpers; only a third failure in a row
// marks a crash loop.
const quickRestarts = 2

// available reports whether requests may wait for this slot: it has a
// helper, or it is starting one after few enough failures. Past that the
// slot is crash-looping and callers are told ErrUnavailable at once.
// Callers hold p.mu.
func (s *slot) available() bool {
	return s.state == slotReady || (s.state == slotStarting && s.failures.Load() <= quickRestarts)
}

func (s *slot) run() {
	p := s.p
	log := p.log.With("slot", s.id)
	for first := true; ; first = false {
		if !first {
			if !s.pause(s.delay()) {
				break
			}
		}
		probe, ok := s.awaitTrust()
		if !ok {
			break
		}
		p.setSlotState(s, slotStarting, nil, !first)
		p.stats.spawns.Add(1)
		h := newHelper(s)
		conf := p.conf()
		h.conf, h.gen = conf, p.specGen.Load()
		spawnStart := time.Now()
		proc, err := ptyproc.Start(ptyproc.Config{
			Args:      conf.Command,
			Env:       conf.Env,
			Dir:       conf.Dir,
			Transport: conf.Transport,
			Logger:    p.log,
		})
		if err != nil {
			s.failures.Add(1)
			p.stats.spawnFailures.Add(1)
			log.Error("helper failed to start", "err", err, "cause", startCause(conf.Command[0], conf.Dir, err), "failures", s.failures.Load())
			if probe {
				p.probeDone(s, err)
			}
			continue
		}
		h.startedAs(proc, conf.Protocol)
		p.cfg.Observer.HelperStarted(h.started.Sub(spawnStart))
		if probe {
			p.setSlotState(s, slotProbing, h, false)
			err := p.prove(h)
			p.probeDone(s, err)
			if err != nil {
				p.cfg.Observer.OutOfStep(stepProbe)
				h.retire(RetireUntrusted)
				s.finish(h, log)
				if p.quitting() || s.removed.Load() {
					break
				}
				continue
			}
		} else if p.holdsRecyclingPlace(s) {
			// A replacement proves itself before the next helper is
			// replaced: a command that cannot answer must not replace
			// every helper that can.
			if err := p.check(h); err != nil {
				s.failures.Add(1)
				log.Error("replacement helper failed its probe; the helpers it was to replace serve on",
					"pid", proc.Pid(), "err", err, "failures", s.failures.Load())
				h.retire(RetireProbeFailed)
				s.finish(h, log)
				if p.quitting() || s.removed.Load() {
					break
				}
				continue
			}
		}
		log.Debug("helper ready", "pid", proc.Pid())
		p.setSlotState(s, slotReady, h, false)
		if p.cfg.Mode == NonBlocking {
			s.serveQueue(h)
		} else {
			p.release(h)
			s.watch(h)
		}
		s.finish(h, log)
		if p.quitting() || s.removed.Load() {
			break
		}
	}
	p.setSlotState(s, slotStopped, nil, false)
	if s.removed.Load() {
		p.removeSlot(s)
	}
}

// watch waits for h to exit, be retired, or be stopped with the pool,
// recycling it by age while it sits idle.
func (s *slot) watch(h *helper) {
	age := s.p.ageTimer(h)
	if age != nil {
		defer age.Stop()
	}
	for {
		select {
		case <-h.proc.Done():
			return
		case <-h.retired:
			return
		case <-s.p.quit:
			return
		case <-timerC(age):
			if s.p.recycleIdle(h) {
				return
			}
			age.Reset(time.Second) // busy, or another is recycling: later
		case <-s.poke:
			if s.p.recycleIdle(h) {
				return
			}
		}
	}
}

// finish takes h out of service and ends its process: at once if it exited,
// after StopGrace otherwise, in the background so the next helper starts
// without waiting for this one to go.
func (s *slot) finish(h *helper, log *slog.Logger) {
	p := s.p
	if p.quitting() {
		h.retire(RetireShutdown)
	}
	exited := h.retire(RetireExit) // false if the pool retired it first
	crashed := exited || h.reason == RetireExit
	p.forget(h, !crashed)
	if h.served.Load() > 0 || time.Since(h.started) >= p.conf().HealthyAfter {
		s.failures.Store(0)
	}
	if crashed {
		// Nobody asked it to go: it crashed, or was killed from outside.
		// (Whether its slot or the request it was answering noticed first
		// makes no difference.) Close also covers a helper that closed its
		// stdout but lives on.
		h.proc.Close()
		s.failures.Add(1)
		p.stats.exits.Add(1)
		p.cfg.Observer.HelperEnded(string(exitReason(h)))
		log.Warn("helper exited", "pid", h.proc.Pid(), "status", h.proc.ExitState().String(), "failures", s.failures.Load())
		return
	}
	p.cfg.Observer.HelperEnded(string(h.reason))
	switch h.reason {
	case RetireShutdown:
	case RetireRecycle, RetireReload, RetirePoolShrunk:
		log.Info("helper recycled", "pid", h.proc.Pid(), "reason", h.reason, "served", h.served.Load(), "age", time.Since(h.started).Round(time.Millisecond))
	default:
		log.Warn("helper replaced", "pid", h.proc.Pid(), "reason", h.reason)
	}
	grace := p.conf().StopGrace
	if p.closing.Load() {
		grace = 0
	}
	p.wg.Go(func() {
		h.proc.Stop(grace)
		p.mu.Lock()
		delete(p.stopping, h)
		p.mu.Unlock()
	})
}

// delay is the pause before the next start: none for the first
// quickRestarts failures, then exponential with jitter.
func (s *slot) delay() time.Duration {
	failures := int(s.failures.Load())
	if failures <= quickRestarts {
		return 0
	}
	d := s.p.cfg.RestartDelay
	for i := quickRestarts + 1; i < failures && d < s.p.cfg.MaxRestartDelay; i++ {
		d *= 2
	}
	d = min(d, s.p.cfg.MaxRestartDelay)
	// ±20%, so helpers that failed together do not all restart together.
	return d + time.Duration((rand.Float64()*0.4-0.2)*float64(d))
}

// pause waits d in the backoff state; it reports false if the pool quit.
func (s *slot) pause(d time.Duration) bool {
	if d <= 0 {
		return !s.p.quitting()
	}
	s.p.setSlotState(s, slotBackoff, nil, false)
	gen := s.p.specGen.Load()
	c, stop := s.p.newTimer(d)
	defer stop()
	for {
		select {
		case <-c:
			return true
		case <-s.p.quit:
			return false
		case <-s.poke:
			if s.removed.Load() {
				return false
			}
			if s.p.specGen.Load() != gen {
				// A reload brought a new command: the old one's failures
				// say nothing about it.
				s.failures.Store(0)
				return true
			}
		}
	}
}

// newTimer is Config.newTimer, or time.NewTimer's.
func (p *Pool) newTimer(d time.Duration) (<-chan time.Time, func() bool) {
	if p.cfg.newTimer != nil {
		return p.cfg.newTimer(d)
	}
	t := time.NewTimer(d)
	return t.C, t.Stop
}

// wake pokes the slot's goroutine without blocking.
func (s *slot) wake() {
	select {
	case s.poke <- struct{}{}:
	default:
	}
}

// exitReason says how a helper that ended by itself ended.
func exitReason(h *helper) RetireReason {
	if st := h.proc.ExitState(); st != nil {
		if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return RetireSignal
		}
	}
	return RetireExit
}
