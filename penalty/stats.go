package penalty

import "sync/atomic"

// Stats is a snapshot of a Guard's counters, all since New, and of the
// size of its tables now.
type Stats struct {
	Delayed     uint64 // attempts that met a penalty and had to wait
	Held        uint64 // clean attempts whose answer waited its turn: a failure on their key came while they were asked
	Withheld    uint64 // of the held, those that could not wait their turn: asked, and not answered
	GaveUp      uint64 // attempts that ended waiting their turn: deadline too short (ErrPenalised), line full (ErrBusy), context ended; held ones included
	Failures    uint64 // failed password checks
	Repeats     uint64 // of those, with a wrong password already tried for the key: no penalty raised
	Raised      uint64 // key penalties raised, up to three per failure (address, pair, user): "keys penalised"
	Cleared     uint64 // (user, address) pairs cleared by a successful login
	StoreErrors uint64 // store calls that failed; the attempt went on without that key's penalty
	Keys        int    // keys the store holds now; -1 when it cannot tell
	Lines       int    // keys with attempts in flight now (holding, waiting for or watching their line)
	InLine      int    // attempts waiting their turn or being answered after it now
}

type counters struct {
	delayed, held, withheld, gaveUp, failures, repeats, raised, cleared, storeErrors atomic.Uint64
	inLine                                                                           atomic.Int64
	storeLogged                                                                      atomic.Int64 // when a store error was last logged, Unix ns
}

// Stats returns the Guard's counters and table sizes.
func (g *Guard) Stats() Stats {
	c := &g.counts
	s := Stats{
		Delayed:     c.delayed.Load(),
		Held:        c.held.Load(),
		Withheld:    c.withheld.Load(),
		GaveUp:      c.gaveUp.Load(),
		Failures:    c.failures.Load(),
		Repeats:     c.repeats.Load(),
		Raised:      c.raised.Load(),
		Cleared:     c.cleared.Load(),
		StoreErrors: c.storeErrors.Load(),
		Keys:        -1,
		InLine:      int(c.inLine.Load()),
	}
	if l, ok := g.cfg.Store.(Lener); ok {
		s.Keys = l.Len()
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	s.Lines = len(g.lines)
	return s
}
