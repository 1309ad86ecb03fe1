package pool

import (
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/cpu"
)

const sigKill = syscall.SIGKILL

type counters struct {
	// requests is written by every request: on a cache line of its own,
	// like Pool.inflight.
	_                            cpu.CacheLinePad
	requests                     atomic.Uint64
	_                            cpu.CacheLinePad
	badRequests, overloaded      atomic.Uint64
	spawns, spawnFailures, exits atomic.Uint64
	timeouts, protocolErrors     atomic.Uint64
	recycles                     atomic.Uint64
	outOfStep, distrusted        atomic.Uint64
}

// Stats is a snapshot of the pool.
type Stats struct {
	Helpers []HelperStats

	Requests       uint64 // requests taken, bad ones included
	BadRequests    uint64 // refused before reaching a helper
	Overloaded     uint64 // refused because the queue was full
	Spawns         uint64 // helper starts attempted
	SpawnFailures  uint64 // starts that failed outright
	Exits          uint64 // helpers that exited by themselves
	Timeouts       uint64 // helpers replaced for not answering in time
	ProtocolErrors uint64 // helpers replaced for malformed or unsolicited output
	Recycles       uint64 // helpers replaced for MaxRequests or MaxAge
	OutOfStep      uint64 // helpers caught out of step (see Config.OutOfStepLimit), failed probes excluded
	Distrusted     uint64 // times the helper command stopped being trusted

	// Untrusted: the helper command is not trusted now, because a helper
	// did UntrustedReason; requests fail with ErrUntrusted.
	Untrusted       bool
	UntrustedReason string

	Idle     int // Blocking: helpers free right now
	Waiting  int // Blocking: callers waiting for a helper
	Queued   int // NonBlocking: requests in the queue
	InFlight int // requests taken and not finished
}

// HelperStats describes one of the pool's slots.
type HelperStats struct {
	Slot     int
	State    HelperState // see HelperStates
	PID      int         // 0 when no helper is running
	Uptime   time.Duration
	Served   int64 // answers from the current helper
	Restarts int   // helpers started in this slot after the first
}

// Stats returns a snapshot of the pool's helpers and counters.
func (p *Pool) Stats() Stats {
	st := Stats{
		Requests:       p.stats.requests.Load(),
		BadRequests:    p.stats.badRequests.Load(),
		Overloaded:     p.stats.overloaded.Load(),
		Spawns:         p.stats.spawns.Load(),
		SpawnFailures:  p.stats.spawnFailures.Load(),
		Exits:          p.stats.exits.Load(),
		Timeouts:       p.stats.timeouts.Load(),
		ProtocolErrors: p.stats.protocolErrors.Load(),
		Recycles:       p.stats.recycles.Load(),
		OutOfStep:      p.stats.outOfStep.Load(),
		Distrusted:     p.stats.distrusted.Load(),
		Queued:         len(p.queue),
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	st.Idle, st.Waiting, st.InFlight = len(p.idle), p.line.n, int(p.inflight.Load())
	if p.trust.open {
		st.Untrusted, st.UntrustedReason = true, p.trust.reason
	}
	for _, s := range p.slots {
		hs := HelperStats{Slot: s.id, State: s.state.HelperState(), Restarts: s.restarts}
		if h := s.cur; h != nil {
			hs.PID = h.proc.Pid()
			hs.Uptime = time.Since(h.started).Round(time.Millisecond)
			hs.Served = h.served.Load()
		}
		st.Helpers = append(st.Helpers, hs)
	}
	return st
}
