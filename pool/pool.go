package pool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authpool/authpool/framing"
	"github.com/authpool/authpool/result"
	"golang.org/x/sys/cpu"
)

// Pool runs Config.Processes helpers and sends requests to them. It is safe
// for concurrent use. Create it with New; end it with Shutdown or Close.
type Pool struct {
	cfg Config                 // as given to New: Mode, QueueSize, Logger and the restart policy never change
	cur atomic.Pointer[Config] // settings in force; Reconfigure swaps them
	// reconf serializes Reconfigure, which probes a new command without
	// holding mu.
	reconf sync.Mutex
	// specGen counts changes to how helpers are started; a helper started
	// under an older one is replaced, one at a time.
	specGen atomic.Uint64
	log     *slog.Logger
	queue   chan *job // NonBlocking only

	// closed: no new requests are taken. Set under mu (by Shutdown), read
	// with or without it.
	closed atomic.Bool

	// inflight counts requests taken and not yet answered, drains included;
	// atomic so that a request is counted without taking mu (see enter).
	// Every request writes it twice, so it has a cache line of its own:
	// beside the fields every request reads (cur, specGen, closed) it made
	// each CPU fetch them again after every other CPU's request: alone,
	// it gave 4 callers on 4 piped helpers 12% more (median of 7
	// interleaved rounds), and fewer runs 2-3 times slower.
	_        cpu.CacheLinePad
	inflight atomic.Int64
	_        cpu.CacheLinePad

	mu          sync.Mutex
	idle        []*helper            // Blocking: free helpers, longest idle first
	line        waitLine             // Blocking: callers waiting for a helper, first come first served
	lineTimer   *time.Timer          // Blocking: ends waits past QueueTimeout (waitline.go)
	lineTimerAt time.Time            // when lineTimer fires; zero when it is not armed
	stopping    map[*helper]struct{} // replaced helpers still in their grace period
	recycling   int                  // slots recycling a helper right now: at most one
	slots       []*slot              // Reconfigure adds and removes them
	nextSlot    int                  // id of the next slot added

	drained     chan struct{} // closed once closed is set and inflight is zero
	drainedOnce sync.Once
	changed     chan struct{} // closed at the next slot state change; see WaitReady

	quit     chan struct{} // closed when the slots must stop
	quitOnce sync.Once
	closing  atomic.Bool // Close: no grace for anyone
	wg       sync.WaitGroup
	stats    counters

	trust      trustState    // the out-of-step breaker; guarded by mu
	untrusted  atomic.Bool   // trust.open, for the request path
	trustEpoch atomic.Uint64 // counts trips; a helper trusted before one never answers again
	// suspectUntil (unix nanoseconds): until then, yes answers are confirmed.
	suspectUntil atomic.Int64

	// watching: the watch on callers of exchanges in flight runs (watch.go).
	watching atomic.Bool
}

// New validates cfg and starts the helpers in the background; requests made
// before they are up wait for them.
func New(cfg Config) (*Pool, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	p := &Pool{
		cfg:      c,
		log:      c.Logger,
		drained:  make(chan struct{}),
		quit:     make(chan struct{}),
		stopping: make(map[*helper]struct{}),
	}
	p.cur.Store(&c)
	if c.Mode == NonBlocking {
		p.queue = make(chan *job, c.QueueSize)
	}
	p.mu.Lock()
	p.addSlots(c.Processes)
	p.mu.Unlock()
	return p, nil
}

// conf returns the settings in force.
func (p *Pool) conf() *Config { return p.cur.Load() }

// addSlots starts n more slots. Callers hold p.mu.
func (p *Pool) addSlots(n int) {
	for range n {
		s := &slot{id: p.nextSlot, p: p, poke: make(chan struct{}, 1)}
		p.nextSlot++
		p.slots = append(p.slots, s)
		p.wg.Go(s.run)
	}
	p.signalChangeLocked()
}

// Auth asks whether password is user@server's password.
func (p *Pool) Auth(ctx context.Context, user, server, password string) (bool, error) {
	return p.Do(ctx, framing.Request{Op: framing.OpAuth, User: user, Server: server, Password: password})
}

// IsUser asks whether user@server exists.
func (p *Pool) IsUser(ctx context.Context, user, server string) (bool, error) {
	return p.Do(ctx, framing.Request{Op: framing.OpIsUser, User: user, Server: server})
}

// SetPass asks the helper to change user@server's password.
func (p *Pool) SetPass(ctx context.Context, user, server, password string) (bool, error) {
	return p.Do(ctx, framing.Request{Op: framing.OpSetPass, User: user, Server: server, Password: password})
}

// Do asks a helper req and returns its answer. The wait for a free helper
// (or a worker) is bounded by ctx, or by Config.QueueTimeout when ctx has no
// deadline; the exchange itself by Config.Timeout, also for a helper still
// starting up. If ctx ends while a helper is answering, Do returns (at once
// when ctx's deadline passes, within 5 ms when it is cancelled) and the
// answer is read and thrown away in the background, so the helper is not
// lost. An auth or isuser whose helper dies before answering is asked once
// more of another helper.
//
// In Blocking mode Do runs the exchange on the caller's goroutine; in
// NonBlocking mode on the helper's worker, while the caller waits for its
// Result. Neither allocates (but for the pool's watch on callers, when
// a caller that can give up is the first in flight after a pause).
func (p *Pool) Do(ctx context.Context, req framing.Request) (bool, error) {
	if answered, yes, err := p.precheck(req); answered {
		return yes, err
	}
	if p.cfg.Mode == NonBlocking {
		// The job is counted in flight from the queue to its answer.
		return p.doQueued(ctx, req)
	}
	if !p.enter() {
		return false, ErrClosed
	}
	defer p.leave()
	return p.doBlocking(ctx, req)
}

// Result is one request's outcome, as a non-blocking worker hands it to
// the caller; it is result.Result, aliased so that code written against
// pool keeps compiling.
type Result = result.Result

// precheck refuses what no helper should see and answers what needs no
// helper: an empty password is never right.
func (p *Pool) precheck(req framing.Request) (answered, yes bool, err error) {
	p.stats.requests.Add(1)
	defer func() {
		if answered {
			p.cfg.Observer.Request(req.Op, Outcome(yes, err), 0, 0)
		}
	}()
	if err := req.Validate(); err != nil {
		p.stats.badRequests.Add(1)
		return true, false, err
	}
	if proto := p.conf().Protocol; !proto.Supports(req.Op) {
		p.stats.badRequests.Add(1)
		return true, false, fmt.Errorf("%w: helpers speak the %s protocol, which has no %s", ErrBadRequest, proto, req.Op)
	}
	if (req.Op == framing.OpAuth || req.Op == framing.OpRemoveUser3) && req.Password == "" {
		return true, false, nil
	}
	if (req.Op == framing.OpSetPass || req.Op == framing.OpTryRegister) && req.Password == "" {
		p.stats.badRequests.Add(1)
		return true, false, fmt.Errorf("%w: empty password", ErrBadRequest)
	}
	return false, false, nil
}

// errWaitTimeout ends a wait for a free helper (or in the queue) that
// QueueTimeout bounds, the caller's context having no deadline.
var errWaitTimeout = fmt.Errorf("%w waiting for a free helper", ErrTimeout)

// enter counts a request in flight, unless the pool is closed. It takes no
// lock: Shutdown sets closed and then reads inflight, enter adds to
// inflight and then reads closed, so (the atomics being sequentially
// consistent) at least one of them sees the other, and no request slips
// past a Shutdown that found nothing in flight.
func (p *Pool) enter() bool {
	p.inflight.Add(1)
	if p.closed.Load() {
		p.leave()
		return false
	}
	return true
}

// leave ends what enter (or enterDrain, or enqueue) counted.
func (p *Pool) leave() {
	if p.inflight.Add(-1) == 0 && p.closed.Load() {
		p.closeDrained()
	}
}

func (p *Pool) closeDrained() {
	p.drainedOnce.Do(func() { close(p.drained) })
}

// goTracked runs f in a goroutine that Shutdown waits for, unless the pool
// is being closed by force. The check and wg.Add share p.mu with force, so
// no Add can race Shutdown's wg.Wait.
func (p *Pool) goTracked(f func()) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing.Load() {
		return false
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		f()
	}()
	return true
}

// force makes the shutdown immediate: no grace, no new goroutines.
func (p *Pool) force() {
	p.mu.Lock()
	p.closing.Store(true)
	p.mu.Unlock()
}

func (p *Pool) quitting() bool {
	select {
	case <-p.quit:
		return true
	default:
		return false
	}
}

// setSlotState records a slot's progress and, when no slot can serve any
// more, fails everyone waiting instead of letting them wait out their
// deadlines.
func (p *Pool) setSlotState(s *slot, st slotState, h *helper, restart bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.setSlotStateLocked(s, st, h, restart)
}

// setSlotStateLocked is setSlotState for callers that hold p.mu.
func (p *Pool) setSlotStateLocked(s *slot, st slotState, h *helper, restart bool) {
	if restart {
		s.restarts++
	}
	if st == slotReady && h != nil {
		h.epoch = s.epoch
		if p.trust.open || h.epoch != p.trustEpoch.Load() {
			// Started just as the command was distrusted.
			h.retire(RetireUntrusted)
		}
	}
	s.state, s.cur = st, h
	p.signalChangeLocked()
	if s.recycling && st != slotStarting && st != slotBackoff && st != slotProbing {
		// The replacement is up (or none is coming): the next may go. One
		// that cannot start keeps the place, so that a command that fails
		// does not replace every helper that still works.
		s.recycling = false
		p.recycling--
		for _, o := range p.slots {
			o.wake()
		}
	}
	if st == slotReady || p.anyAvailable() {
		return
	}
	err := fmt.Errorf("%w: every helper is failing; retrying in the background", ErrUnavailable)
	switch {
	case p.quitting():
		err = ErrClosed
	case p.trust.open:
		err = ErrUntrusted
	}
	p.failWaiters(err)
}

// unavailableError says why no slot can serve. Callers hold p.mu.
func (p *Pool) unavailableError() error {
	if p.trust.open {
		return ErrUntrusted
	}
	return ErrUnavailable
}

// anyAvailable reports whether some slot can serve. Callers hold p.mu.
func (p *Pool) anyAvailable() bool {
	return slices.ContainsFunc(p.slots, (*slot).available)
}

func (p *Pool) stop() {
	p.quitOnce.Do(func() { close(p.quit) })
}

// Shutdown stops taking requests, lets those already taken finish, then
// stops the helpers (SIGTERM, then SIGKILL after Config.StopGrace). If ctx
// ends first, the helpers are killed at once, requests still running fail
// with ErrClosed, and ctx's error is returned. Shutdown returns only when
// every helper process and goroutine of the pool is gone.
func (p *Pool) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	if !p.closed.Load() {
		p.closed.Store(true)
		p.signalChangeLocked()
	}
	p.mu.Unlock()
	if p.inflight.Load() == 0 {
		p.closeDrained()
	}

	var err error
	select {
	case <-p.drained:
	case <-ctx.Done():
		err = ctx.Err()
		p.force()
	}
	p.stop()
	if p.closing.Load() {
		p.killAll()
	}
	done := make(chan struct{})
	go func() {
		p.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		p.force()
		p.killAll()
		<-done
	}
	p.mu.Lock()
	p.failWaiters(ErrClosed)
	p.mu.Unlock()
	p.failQueued(ErrClosed)
	p.stopLineTimer()
	return err
}

// Close kills every helper at once and fails requests still running with
// ErrClosed. It returns when every process and goroutine of the pool is
// gone.
func (p *Pool) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p.force()
	if err := p.Shutdown(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// killAll sends SIGKILL to every helper; their slots and owners then see
// them exit and clean up.
func (p *Pool) killAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failWaiters(ErrClosed)
	for _, s := range p.slots {
		if s.cur != nil {
			s.cur.proc.Signal(sigKill)
		}
	}
	for h := range p.stopping {
		h.proc.Signal(sigKill)
	}
}

// closedError maps an exchange error to ErrClosed when the pool killed the
// helper itself.
func (p *Pool) closedError(err error) error {
	if p.closing.Load() && (errors.Is(err, ErrHelperExited) || errors.Is(err, ErrTimeout)) {
		return ErrClosed
	}
	return err
}

// retire takes h out of service after a failed exchange.
func (p *Pool) retire(h *helper, err error) {
	reason := retireReason(err)
	switch reason {
	case RetireTimeout:
		p.stats.timeouts.Add(1)
	case RetireProtocol:
		p.stats.protocolErrors.Add(1)
	}
	h.retire(reason)
	if reason == RetireProtocol {
		p.caughtOutOfStep(h, stepWhat(err))
	}
}

// retryable reports whether a failed request may be asked of another
// helper: never more than once, always when nothing was sent, and for
// idempotent operations when the helper died before answering.
func retryable(err error, req framing.Request, attempt int) bool {
	if attempt > 0 {
		return false
	}
	return errors.Is(err, errNotSent) || (errors.Is(err, ErrHelperExited) && req.Op.Idempotent())
}

// Processes returns the configured number of helpers.
func (p *Pool) Processes() int { return p.conf().Processes }

// Mode returns the pool's mode.
func (p *Pool) Mode() Mode { return p.cfg.Mode }
