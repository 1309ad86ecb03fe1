package pool

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/authpool/authpool/framing"
)

// The out-of-step breaker. The helper protocols carry no request id, so a
// helper that writes a "1" nobody asked for can have it read as the answer
// to whatever request is outstanding. Each helper caught out of step is
// replaced, but the catch comes after the fact; a command whose helpers
// keep doing it stops being trusted at all (see doc.go for the policy).

// Probes ask the one question whose answer every honest helper knows: a
// password nobody chose, for a user in a domain that cannot exist (RFC
// 2606 reserves .invalid). probeRounds of them, each followed by
// probeQuiet of silence, prove a helper; a "1", junk, or output after the
// answer fails it.
const (
	probeUser   = "authpool-probe"
	probeServer = "probe.invalid"
	probeRounds = 3
	probeQuiet  = 100 * time.Millisecond
)

// trustState is the breaker, guarded by Pool.mu. Pool.untrusted and
// Pool.trustEpoch mirror it for the request path.
type trustState struct {
	open      bool        // untrusted: no request reaches a helper
	reason    string      // what the last helper caught did
	strikes   []time.Time // catches within OutOfStepWindow, oldest first
	level     int         // trips and failed probes in a row: the wait doubles with each
	probeAt   time.Time   // when open, the earliest start of the next probe
	probation time.Time   // until then, one catch distrusts the command again
	prober    *slot       // the slot probing a helper now, if any
}

// What a helper caught out of step did: the Observer's words, metric label
// values and Stats.UntrustedReason, so snake_case like the rest of the
// vocabulary (vocabulary.go).
const (
	stepIdle     = "output_while_idle"
	stepExtra    = "extra_output"
	stepJunk     = "junk"
	stepProbe    = "probe_failed"
	stepDisagree = "answers_disagree"
)

// Why the helper command is trusted again (Observer.Trust with trusted
// true).
const (
	trustProbePassed = "probe_passed"
	trustNewCommand  = "new_command"
)

// outOfStep is an exchange failure that shows a helper's output is not in
// step with its requests. It wraps ErrProtocol.
type outOfStep struct {
	what string
	n    int // bytes seen
}

func (e *outOfStep) Error() string {
	return fmt.Sprintf("%v: %s (%d bytes)", ErrProtocol, e.what, e.n)
}

func (e *outOfStep) Unwrap() error { return ErrProtocol }

// stepWhat names what a protocol error shows the helper did.
func stepWhat(err error) string {
	if o, ok := errors.AsType[*outOfStep](err); ok {
		return o.what
	}
	return stepJunk
}

// caughtOutOfStep counts a catch against h's command and distrusts the
// command when there have been OutOfStepLimit within OutOfStepWindow (one,
// during probation). Helpers started under an older command do not count
// against the new one.
func (p *Pool) caughtOutOfStep(h *helper, what string) {
	p.stats.outOfStep.Add(1)
	p.cfg.Observer.OutOfStep(what)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.trust.open || h.gen != p.specGen.Load() || h.epoch != p.trustEpoch.Load() {
		p.log.Warn("helper out of step", "pid", h.proc.Pid(), "what", what)
		return
	}
	conf := p.conf()
	now := time.Now()
	cut := 0
	for cut < len(p.trust.strikes) && now.Sub(p.trust.strikes[cut]) >= conf.OutOfStepWindow {
		cut++
	}
	p.trust.strikes = append(p.trust.strikes[cut:], now)
	p.suspectUntil.Store(now.Add(conf.OutOfStepWindow).UnixNano())
	limit := conf.OutOfStepLimit
	if now.Before(p.trust.probation) {
		limit = 1
	}
	p.log.Warn("helper out of step", "pid", h.proc.Pid(), "what", what,
		"caught", len(p.trust.strikes), "limit", limit, "within", conf.OutOfStepWindow)
	if len(p.trust.strikes) >= limit {
		p.distrustLocked(what, now)
	}
}

// confirmYoung is how many answers a helper gives before its yes answers
// are taken without asking again: a helper that writes stray lines from
// the start is caught by its first ones, before it has done much harm, at
// the cost of one more exchange for each of a fresh helper's first yes
// answers.
const confirmYoung = 16

// suspect reports whether a helper of the command was caught out of step
// within OutOfStepWindow, or the command is on probation: then every yes to
// an auth or isuser is confirmed by asking again (see helper.confirm),
// which honest helpers never pay for.
func (p *Pool) suspect() bool {
	return time.Now().UnixNano() < p.suspectUntil.Load()
}

// distrustLocked trips the breaker: every helper is retired, every waiting
// request fails, and no helper starts until a probe is due. Callers hold
// p.mu.
func (p *Pool) distrustLocked(what string, now time.Time) {
	if now.Before(p.trust.probation) {
		p.trust.level++
	} else {
		p.trust.level = 0
	}
	wait := p.untrustedForLocked()
	p.trust.open, p.trust.reason, p.trust.probeAt = true, what, now.Add(wait)
	p.trust.strikes = p.trust.strikes[:0]
	p.untrusted.Store(true)
	p.trustEpoch.Add(1)
	p.stats.distrusted.Add(1)
	p.log.Error("helper command untrusted: its helpers keep getting out of step; every request fails until a probe passes",
		"what", what, "probe_in", wait.Round(time.Millisecond))
	p.cfg.Observer.Trust(false, what)
	for _, s := range p.slots {
		if s.cur != nil {
			s.cur.retire(RetireUntrusted)
		}
	}
	p.idle = p.idle[:0]
	p.failWaiters(ErrUntrusted)
	for _, s := range p.slots {
		s.wake()
	}
}

// untrustedForLocked is the wait before the next probe: UntrustedFor,
// doubled for each trip or failed probe in a row. Callers hold p.mu.
func (p *Pool) untrustedForLocked() time.Duration {
	c := p.conf()
	d := c.UntrustedFor
	for i := 0; i < p.trust.level && d < c.MaxUntrustedFor; i++ {
		d *= 2
	}
	return min(d, c.MaxUntrustedFor)
}

// resetTrustLocked forgets the breaker's state: a new helper command is
// judged afresh (it was probed before it was applied). Callers hold p.mu.
func (p *Pool) resetTrustLocked() {
	wasOpen := p.trust.open
	p.trust = trustState{} // with no prober: a probe of the old command decides nothing
	p.untrusted.Store(false)
	p.suspectUntil.Store(0)
	if wasOpen {
		p.log.Info("helper command trusted: a new command replaces the untrusted one")
		p.cfg.Observer.Trust(true, trustNewCommand)
	}
}

// awaitTrust holds the slot while the command is untrusted. It returns
// when the command is trusted, or when it is this slot's turn to start a
// helper and probe it (probe); ok is false if the pool quit or the slot
// was removed meanwhile. It records the trust epoch the next helper
// belongs to.
func (s *slot) awaitTrust() (probe, ok bool) {
	p := s.p
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		p.mu.Lock()
		if !p.trust.open {
			s.epoch = p.trustEpoch.Load()
			p.mu.Unlock()
			return false, true
		}
		wait := time.Until(p.trust.probeAt)
		if p.trust.prober == nil && wait <= 0 && !s.removed.Load() {
			p.trust.prober = s
			s.epoch = p.trustEpoch.Load()
			p.mu.Unlock()
			return true, true
		}
		if p.trust.prober != nil {
			wait = time.Hour // the prober wakes every slot when it is done
		}
		p.setSlotStateLocked(s, slotUntrusted, nil, false)
		p.mu.Unlock()
		if timer == nil {
			timer = time.NewTimer(wait)
		} else {
			timer.Reset(wait)
		}
		select {
		case <-timer.C:
		case <-p.quit:
			return false, false
		case <-s.poke:
			if s.removed.Load() {
				return false, false
			}
		}
	}
}

// probeDone ends this slot's probe: the command is trusted again, on
// probation, or stays untrusted for longer. A probe overtaken by a new
// command decides nothing.
func (p *Pool) probeDone(s *slot, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.trust.prober != s {
		return
	}
	p.trust.prober = nil
	for _, o := range p.slots {
		o.wake()
	}
	now := time.Now()
	if err == nil {
		window := p.conf().OutOfStepWindow
		p.trust.open, p.trust.probation = false, now.Add(window)
		p.suspectUntil.Store(p.trust.probation.UnixNano())
		p.untrusted.Store(false)
		p.log.Warn("helper command trusted again: a probe passed; one more helper out of step distrusts it again",
			"probation", window)
		p.cfg.Observer.Trust(true, trustProbePassed)
		return
	}
	p.trust.level++
	wait := p.untrustedForLocked()
	p.trust.probeAt = now.Add(wait)
	p.log.Warn("helper command still untrusted: its probe failed", "err", err, "next_probe_in", wait.Round(time.Millisecond))
}

// prove asks h, a fresh helper no request has reached, probeRounds probe
// questions. It fails on any answer but "no", on output after an answer,
// and on anything ask would fail on. The pool quitting cuts it short.
func (p *Pool) prove(h *helper) error {
	ctx, cancel := p.quitContext()
	defer cancel()
	conf := p.conf()
	for i := range probeRounds {
		timeout := conf.Timeout
		if i == 0 {
			timeout += conf.StartTimeout
		}
		yes, err := h.exchange(ctx, probeAuth(), time.Now().Add(timeout), probeQuiet)
		if err == nil && yes {
			err = &outOfStep{what: "answered yes to a password nobody has", n: 2}
		}
		if err != nil {
			if ctx.Err() != nil {
				return ErrClosed
			}
			return err
		}
		h.served.Add(1)
		h.probes.Add(1)
	}
	return nil
}

// check asks h, a fresh helper, the start-up probe (see Probe), without
// waiting for quiet after it.
func (p *Pool) check(h *helper) error {
	ctx, cancel := p.quitContext()
	defer cancel()
	conf := p.conf()
	_, err := h.exchange(ctx, probeIsUser, time.Now().Add(conf.Timeout+conf.StartTimeout), 0)
	if err != nil {
		return err
	}
	h.served.Add(1)
	h.probes.Add(1)
	return nil
}

// quitContext is a context that ends when the pool quits, or when cancel
// is called.
func (p *Pool) quitContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-p.quit:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// probeIsUser asks whether a user that cannot exist exists: any answer
// shows a helper that starts and answers.
var probeIsUser = framing.Request{Op: framing.OpIsUser, User: probeUser, Server: probeServer}

// probeAuth is an auth request no honest helper can answer yes: a random
// password, for a user that cannot exist.
func probeAuth() framing.Request {
	var b [16]byte
	rand.Read(b[:])
	return framing.Request{Op: framing.OpAuth, User: probeUser, Server: probeServer, Password: hex.EncodeToString(b[:])}
}

// exchange is one request on h outside the request path (probes): it
// prepares h, sends req, reads one answer by deadline, and then requires
// quiet: no output for that long after the answer. ctx ending interrupts
// a read.
func (h *helper) exchange(ctx context.Context, req framing.Request, deadline time.Time, quiet time.Duration) (bool, error) {
	if err := h.prepare(deadline); err != nil {
		return false, err
	}
	h.arm(true)
	stop := context.AfterFunc(ctx, h.interrupt)
	defer func() {
		stop()
		h.arm(false)
	}()
	if _, err := h.send(req); err != nil {
		return false, err
	}
	yes, err := h.readAnswer()
	if err != nil {
		return false, err
	}
	return yes, h.settle(min(quiet, time.Until(deadline)))
}
