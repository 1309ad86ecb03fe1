package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/authpool/authpool/client"
	"github.com/authpool/authpool/framing"
	"github.com/authpool/authpool/pool"
	"github.com/authpool/authpool/ptyproc"
	"github.com/authpool/authpool/result"
)

// Target answers requests. Do is called concurrently by the run's workers;
// worker is the caller's index, from 0 to Config.Concurrency-1, which a
// target may use to spread workers over its resources.
type Target interface {
	Do(ctx context.Context, worker int, req framing.Request) (bool, error)
	Close() error
}

// HelperWatcher is implemented by targets that know their helpers' process
// ids, so their memory can be watched. Served, when not nil, gives the
// number of answers a helper has given, so a helper still starting is not
// mistaken for one that grows.
type HelperWatcher interface {
	HelperPIDs() []HelperPID
}

// HelperPID is one helper process as a target sees it.
type HelperPID struct {
	PID    int
	Served int64 // answers given; -1 if unknown
}

// PoolStatser is implemented by targets backed by an in-process pool.
type PoolStatser interface {
	PoolStats() pool.Stats
}

// DaemonWatcher is implemented by targets that talk to a daemon whose
// process id they know.
type DaemonWatcher interface {
	DaemonPID() int
}

// Readier is implemented by targets that start helpers in the background:
// Ready returns when every helper is running, or when ctx ends.
type Readier interface {
	Ready(ctx context.Context) error
}

// PoolTarget sends requests through an in-process pool.
type PoolTarget struct {
	Pool *pool.Pool
}

// Ready waits until every slot of the pool has a helper ready to be
// handed requests (pool.WaitReady).
func (t PoolTarget) Ready(ctx context.Context) error { return t.Pool.WaitReady(ctx) }

// Do asks the pool.
func (t PoolTarget) Do(ctx context.Context, _ int, req framing.Request) (bool, error) {
	return t.Pool.Do(ctx, req)
}

// Close kills the pool's helpers.
func (t PoolTarget) Close() error { return t.Pool.Close() }

// PoolStats returns the pool's statistics.
func (t PoolTarget) PoolStats() pool.Stats { return t.Pool.Stats() }

// HelperPIDs lists the pool's running helpers.
func (t PoolTarget) HelperPIDs() []HelperPID {
	var out []HelperPID
	for _, h := range t.Pool.Stats().Helpers {
		if h.PID != 0 {
			out = append(out, HelperPID{PID: h.PID, Served: h.Served})
		}
	}
	return out
}

// BareConfig configures a BareTarget.
type BareConfig struct {
	Command   []string
	Env       []string
	Dir       string
	Transport ptyproc.Transport
	Protocol  framing.Protocol
	Processes int
	// Timeout bounds one exchange; zero means 5s.
	Timeout time.Duration
	// IdleCheck looks for output the helper wrote while idle before each
	// exchange, as the pool does (ptyproc.Process.TryRead: one read
	// syscall), and breaks the helper when there is some: the baseline
	// with the pool's one safety check before a request, so that the
	// cost of the pool's other work can be told from the cost of the
	// check (--idle-check). False means no check, the minimal baseline.
	IdleCheck bool
}

// BareTarget is the baseline: Processes helpers, each driven by a plain
// write-then-read loop with no pool, no queue, no restarts and no checks
// beyond decoding the answer: the pool's own exchange (pool.Exchanger),
// without the pool around it. Worker w always uses helper w mod
// Processes, so with as many workers as helpers nothing is ever shared. A
// helper that fails is not replaced: its requests fail from then on.
type BareTarget struct {
	helpers   []*bareHelper
	timeout   time.Duration
	idleCheck bool
}

type bareHelper struct {
	mu     sync.Mutex
	proc   *ptyproc.Process
	ex     *pool.Exchanger // under mu
	served int64           // under mu
	broken error
	stray  [64]byte // under mu: what an idle check reads
}

// errIdleOutput: the helper wrote while no request was outstanding.
var errIdleOutput = errors.New("output while idle")

// NewBare starts the helpers.
func NewBare(cfg BareConfig) (*BareTarget, error) {
	if cfg.Processes < 1 {
		cfg.Processes = 1
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	t := &BareTarget{timeout: cfg.Timeout, idleCheck: cfg.IdleCheck}
	for range cfg.Processes {
		p, err := ptyproc.Start(ptyproc.Config{Args: cfg.Command, Env: cfg.Env, Dir: cfg.Dir, Transport: cfg.Transport})
		if err != nil {
			t.Close()
			return nil, err
		}
		t.helpers = append(t.helpers, &bareHelper{proc: p, ex: pool.NewExchanger(p, cfg.Protocol)})
	}
	return t, nil
}

// Do asks helper worker mod Processes.
func (t *BareTarget) Do(ctx context.Context, worker int, req framing.Request) (bool, error) {
	return t.ask(ctx, t.helpers[worker%len(t.helpers)], req)
}

// ask exchanges req with h, by the timeout or ctx's deadline.
func (t *BareTarget) ask(ctx context.Context, h *bareHelper, req framing.Request) (bool, error) {
	deadline := time.Now().Add(t.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.ready(t.idleCheck); err != nil {
		return false, err
	}
	return h.done(h.ex.Exchange(req, deadline))
}

// relay exchanges a request already encoded (a relayed line) with h, by
// deadline. h.mu is held.
func (h *bareHelper) relay(line []byte, deadline time.Time, idleCheck bool) (bool, error) {
	if err := h.ready(idleCheck); err != nil {
		return false, err
	}
	return h.done(h.ex.ExchangeEncoded(line, deadline))
}

// ready fails if h is broken or, with idleCheck, has written since its
// last answer. h.mu is held.
func (h *bareHelper) ready(idleCheck bool) error {
	if h.broken == nil && idleCheck {
		if n, err := h.proc.TryRead(h.stray[:]); n > 0 {
			h.broken = errIdleOutput
		} else if err != nil {
			h.broken = err
		}
	}
	return h.broken
}

// done records the outcome of an exchange on h. h.mu is held.
func (h *bareHelper) done(yes bool, err error) (bool, error) {
	if err != nil {
		// Out of step for good: a baseline does not recover.
		h.broken = err
		return false, err
	}
	h.served++
	return yes, nil
}

// HelperPIDs lists the helpers.
func (t *BareTarget) HelperPIDs() []HelperPID {
	out := make([]HelperPID, 0, len(t.helpers))
	for _, h := range t.helpers {
		h.mu.Lock()
		out = append(out, HelperPID{PID: h.proc.Pid(), Served: h.served})
		h.mu.Unlock()
	}
	return out
}

// Close kills the helpers.
func (t *BareTarget) Close() error {
	var errs []error
	for _, h := range t.helpers {
		errs = append(errs, h.proc.Close())
	}
	return errors.Join(errs...)
}

// ErrorKind names the kind of a failed request for the report. Every
// target's request errors, the bare loop's included (its exchange is the
// pool's), are named by the one classifier, result.Kind: timeout,
// overloaded, untrusted, unavailable, exited, protocol, badrequest, closed.
// Only what is no request error has a name of bench's own: canceled (the
// run ended), bad_answer, http_NNN, connection or other.
func ErrorKind(err error) string {
	switch {
	case errors.Is(err, context.Canceled) && !errors.Is(err, result.ErrClosed):
		return "canceled"
	case errors.Is(err, client.ErrDaemonClosing):
		return string(framing.KindClosed)
	}
	if k := result.Kind(err); k != framing.KindInternal {
		return string(k)
	}
	var ne net.Error
	var he *httpStatusError
	switch {
	case errors.Is(err, errBadAnswer):
		return "bad_answer"
	case errors.As(err, &he):
		return fmt.Sprintf("http_%d", he.code)
	case errors.Is(err, errConnection), errors.Is(err, client.ErrConnection), errors.As(err, &ne):
		return "connection"
	}
	return "other"
}
