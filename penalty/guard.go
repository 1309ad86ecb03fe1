package penalty

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/authpool/authpool/framing"
	"github.com/authpool/authpool/result"
)

// Errors of attempts the Guard ends before Next is asked. An attempt whose
// context ends while it waits returns an error wrapping the context's.
var (
	// ErrPenalised: the penalty to wait is longer than the request's
	// deadline allows, so the attempt ends at once rather than hold its
	// key until the deadline. It wraps result.ErrTimeout.
	ErrPenalised = fmt.Errorf("penalty: the wait is longer than the request may last: %w", result.ErrTimeout)
	// ErrBusy: Config.MaxWaiting attempts already wait on the key. It
	// wraps result.ErrOverloaded.
	ErrBusy = fmt.Errorf("penalty: too many attempts in line on one key: %w", result.ErrOverloaded)
)

// Guard is a Doer that delays password checks on penalised keys and
// raises the penalties of failed ones; see the package doc for the rules.
// It is safe for concurrent use. Create it with New; it starts no
// goroutine and has nothing to close.
type Guard struct {
	cfg  Config
	keys keyer

	mu     sync.Mutex
	lines  map[Key]*turnstile
	counts counters
}

// New returns a Guard in front of cfg.Next.
func New(cfg Config) (*Guard, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	return &Guard{cfg: cfg, keys: newKeyer(cfg.Secret), lines: make(map[Key]*turnstile)}, nil
}

// guarded reports whether op answers whether a password is right, which
// makes it a way to guess one: auth, and ejabberd's removeuser3 (remove
// the user if the password matches). isuser, setpass, tryregister and
// removeuser check no password.
func guarded(op framing.Op) bool { return op == framing.OpAuth || op == framing.OpRemoveUser3 }

// attempt is what the Guard works out from one request before it waits.
type attempt struct {
	addr   netip.Addr // as logged; invalid when unknown
	exempt bool
	keys   []Key // whose penalties a failure raises: address, pair, user; or user alone
	own    Key   // the key whose turnstile every attempt takes: the pair, else the user
}

// addrKey is the attempt's address key, when its address counts.
func (a *attempt) addrKey() (Key, bool) {
	if len(a.keys) == 3 {
		return a.keys[0], true
	}
	return Key{}, false
}

func (g *Guard) attempt(req framing.Request) attempt {
	var a attempt
	user := g.keys.user(req.User, req.Server)
	p, addr, ok := client(req.Client, g.cfg.IPv6Bits)
	switch {
	case !ok:
		a.keys, a.own = []Key{user}, user
	case g.isExempt(addr):
		a.addr, a.exempt = addr, true
		a.keys, a.own = []Key{user}, user
	default:
		a.addr = addr
		a.own = g.keys.pair(req.User, req.Server, p)
		a.keys = []Key{g.keys.addr(p), a.own, user}
	}
	return a
}

func (g *Guard) isExempt(addr netip.Addr) bool {
	for _, p := range g.cfg.Exempt {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// Do asks Next req, after waiting out the penalty of its keys when req is
// a password check (auth, removeuser3), and records the answer. Other
// requests, and malformed ones, go to Next untouched. An error from Next
// is returned as is and changes no penalty.
func (g *Guard) Do(ctx context.Context, req framing.Request) (bool, error) {
	if g.cfg.Off || !guarded(req.Op) || req.Validate() != nil {
		return g.cfg.Next.Do(ctx, req)
	}
	a := g.attempt(req)
	if a.exempt {
		return g.check(ctx, req, &a)
	}
	// The attempt watches its lines before it reads its keys' states, and
	// goes in turn when someone is in them: so a failure claimed or
	// recorded by another attempt is either seen in the store, or met in
	// the line (it holds its lines until the store has it), or counted on
	// the line while this attempt is asked (which holds its answer).
	w, busy := g.watch(&a)
	if busy {
		g.unwatch(&w)
		return g.inTurn(ctx, req, &a, true)
	}
	if s := g.states(ctx, &a); s.addr.Failures > 0 || s.pair.Failures > 0 || s.user.Failures > 0 {
		g.unwatch(&w)
		return g.inTurn(ctx, req, &a, false)
	}
	return g.clean(ctx, req, &a, &w)
}

// check asks Next and records its answer.
func (g *Guard) check(ctx context.Context, req framing.Request, a *attempt) (bool, error) {
	ok, err := g.cfg.Next.Do(ctx, req)
	if err != nil {
		return false, err
	}
	// A caller that goes away once it has the answer must not skip the
	// record.
	g.record(context.WithoutCancel(ctx), req, a, ok)
	return ok, nil
}

// inTurn waits out the penalty of an attempt on a penalised key, in
// line, and asks Next; allLines takes the address's line even when the
// store shows no failure there yet (see waitTurn). The answer is recorded
// before it is returned, while the lines are held: the next attempt in
// line sees it.
func (g *Guard) inTurn(ctx context.Context, req framing.Request, a *attempt, allLines bool) (bool, error) {
	release, err := g.turn(ctx, a, allLines)
	if err != nil {
		return false, err
	}
	defer release()
	return g.check(ctx, req, a)
}

// clean asks Next at once for an attempt none of whose keys has a
// penalty, beside any other attempt on the same keys: a user logging in
// from several devices at once waits for nobody. If a failure on its
// lines is recorded while it is asked, its answer is held: given only
// after the penalty that failure set, in line with every attempt after
// it, so that 16 simultaneous first guesses still give one answer, then
// one per penalty.
func (g *Guard) clean(ctx context.Context, req framing.Request, a *attempt, w *watching) (bool, error) {
	ok, err := g.cfg.Next.Do(ctx, req)
	if err != nil {
		g.unwatch(w)
		return false, err
	}
	release, first := g.claim(w, ok)
	g.unwatch(w)
	if first {
		defer release()
		g.record(context.WithoutCancel(ctx), req, a, ok)
		return ok, nil
	}
	g.counts.held.Add(1)
	release, err = g.turn(ctx, a, true)
	if err != nil {
		// The answer is withheld, but the password was checked: a
		// guesser who cannot wait must not have guessed for free.
		g.counts.withheld.Add(1)
		if !ok {
			g.record(context.WithoutCancel(ctx), req, a, ok)
		}
		return false, err
	}
	defer release()
	g.record(context.WithoutCancel(ctx), req, a, ok)
	return ok, nil
}

// turn is waitTurn, counted.
func (g *Guard) turn(ctx context.Context, a *attempt, allLines bool) (release func(), err error) {
	g.counts.inLine.Add(1)
	leave, err := g.waitTurn(ctx, a, allLines)
	if err != nil {
		g.counts.inLine.Add(-1)
		g.counts.gaveUp.Add(1)
		return nil, err
	}
	return func() { leave(); g.counts.inLine.Add(-1) }, nil
}

// waitTurn takes the attempt's turnstiles and waits out its penalty. Every
// attempt takes its own line first and perhaps its address's second, and
// none takes them the other way round, so no two attempts wait for each
// other in a circle. With allLines (a held attempt, or one that found its
// lines busy) it always takes its address's line: a failure there may be
// claimed and not yet in the store, and its attempt holds the line until
// it is. Without a deadline of the caller's, MaxWait bounds it all.
func (g *Guard) waitTurn(ctx context.Context, a *attempt, allLines bool) (release func(), err error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, g.cfg.MaxWait)
		defer cancel()
	}
	releaseOwn, err := g.enter(ctx, a.own)
	if err != nil {
		return nil, err
	}
	s := g.states(ctx, a)
	releaseAddr := func() {}
	if k, ok := a.addrKey(); ok && (allLines || s.addr.Failures > 0) {
		// A penalised address is one line for all its users, so that a
		// guesser trying many users at once gets no more guesses than
		// one trying them in turn.
		if releaseAddr, err = g.enter(ctx, k); err != nil {
			releaseOwn()
			return nil, err
		}
		s = g.states(ctx, a) // what the attempts ahead in line left
	}
	release = func() { releaseAddr(); releaseOwn() }
	if d := g.delay(a, s); d > 0 {
		g.counts.delayed.Add(1)
		if err := sleep(ctx, d); err != nil {
			release()
			return nil, err
		}
	}
	return release, nil
}

// states is what the store knows of an attempt's keys.
type states struct{ addr, pair, user State }

func (g *Guard) states(ctx context.Context, a *attempt) states {
	if len(a.keys) == 1 {
		return states{user: g.get(ctx, a.keys[0])}
	}
	return states{addr: g.get(ctx, a.keys[0]), pair: g.get(ctx, a.keys[1]), user: g.get(ctx, a.keys[2])}
}

// get is key's state; a store error counts as no penalty.
func (g *Guard) get(ctx context.Context, key Key) State {
	s, err := g.cfg.Store.Get(ctx, key)
	if err != nil {
		g.storeError(ctx, "get", err)
		return State{}
	}
	return State{Failures: max(s.Failures, 0), Since: max(s.Since, 0)}
}

// delay is how long an attempt still has to wait: the longest of its
// keys' remaining penalties, the user's capped at UserMax unless the
// address has failed itself.
func (g *Guard) delay(a *attempt, s states) time.Duration {
	userCap := g.cfg.Max
	if !a.addr.IsValid() || (s.addr.Failures == 0 && s.pair.Failures == 0) {
		userCap = g.cfg.UserMax
	}
	return max(g.remaining(s.addr, g.cfg.Max), g.remaining(s.pair, g.cfg.Max), g.remaining(s.user, userCap))
}

// remaining is what is left of a key's penalty: Base after its first
// failure, doubled by each further one, at most limit, counted from its
// last failure.
func (g *Guard) remaining(s State, limit time.Duration) time.Duration {
	if s.Failures == 0 {
		return 0
	}
	p := g.cfg.Base
	for i := 1; i < s.Failures && p < limit; i++ {
		if p > limit/2 {
			p = limit
			break
		}
		p *= 2
	}
	return max(min(p, limit)-s.Since, 0)
}

// sleep waits d, or fails at once when ctx's deadline comes first: a wait
// that cannot end in an answer would only hold the key.
func sleep(ctx context.Context, d time.Duration) error {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		return ErrPenalised
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("penalty: waiting out a penalty: %w", ctx.Err())
	}
}

// record updates the store with an answer: a success clears the (user,
// address) pair; a failure raises every key of the attempt whose last
// wrong passwords do not include this one, and is logged.
func (g *Guard) record(ctx context.Context, req framing.Request, a *attempt, ok bool) {
	if ok {
		if len(a.keys) == 3 {
			if err := g.cfg.Store.Clear(ctx, a.own); err != nil {
				g.storeError(ctx, "clear", err)
			} else {
				g.counts.cleared.Add(1)
			}
		}
		return
	}
	g.counts.failures.Add(1)
	g.noteFailure(a)
	mark := g.keys.mark(req.User, req.Server, req.Password)
	repeated := false
	for _, k := range a.keys {
		raised, err := g.cfg.Store.Fail(ctx, k, mark)
		switch {
		case err != nil:
			g.storeError(ctx, "fail", err)
		case raised:
			g.counts.raised.Add(1)
		case k == a.own:
			repeated = true
		}
	}
	if repeated {
		g.counts.repeats.Add(1)
	}
	g.logFailure(ctx, req, a, repeated)
}
