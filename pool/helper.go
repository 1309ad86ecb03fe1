package pool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authpool/authpool/framing"
	"github.com/authpool/authpool/ptyproc"
)

// helper is one running helper process. Its exchange state (ex, w,
// served) belongs to whoever holds it: the caller that checked it out, or
// its slot's worker. gone and reason are shared and guarded by mu.
type helper struct {
	slot    *slot
	proc    *ptyproc.Process
	started time.Time
	conf    *Config // the settings it was started with
	gen     uint64  // the pool's specGen then
	epoch   uint64  // the pool's trustEpoch when it was trusted to serve

	ex     Exchanger    // the exchange itself, as bench's bare loop runs it too
	w      watch        // the exchange's view of its caller (watch.go)
	served atomic.Int64 // answers read; atomic only so Stats can read it
	probes atomic.Int64 // of those, answers to the pool's own probes

	// gone: retired or exited, never to be handed out again. Set under mu
	// (with reason and retired), read without it.
	gone atomic.Bool

	mu      sync.Mutex
	reason  RetireReason    // why it was retired (RetireExit if nobody asked it to go)
	retired chan struct{}   // closed by retire
	armed   bool            // a probe's context watcher may still interrupt a read
	caller  context.Context // the caller of the exchange in flight, for the pool's watch (watch.go)
	// watched: an exchange with a caller that can give up is in flight
	// (set by the holder, read by the pool's watch).
	watched atomic.Bool
}

// newHelper makes the helper a slot is about to start; started gives it
// its process.
func newHelper(s *slot) *helper {
	return &helper{slot: s, retired: make(chan struct{})}
}

// startedAs records h's process, which speaks proto.
func (h *helper) startedAs(proc *ptyproc.Process, proto framing.Protocol) {
	h.proc, h.started = proc, time.Now()
	h.ex.init(proc, proto)
}

// errNotSent marks failures that happened before the request was written:
// asking another helper is always safe.
var errNotSent = errors.New("request not sent")

// prepare readies h for one exchange whose reads and writes end by
// deadline. Output that arrived while nobody was asking is a stale or
// spontaneous answer; reading it as the coming request's answer is exactly
// the bug this pool exists to prevent, so it fails the exchange before
// anything is sent.
func (h *helper) prepare(deadline time.Time) error {
	if n, err := h.proc.TryRead(h.ex.rbuf); n > 0 {
		return fmt.Errorf("%w: %w", errNotSent, &outOfStep{what: stepIdle, n: n})
	} else if err != nil {
		return fmt.Errorf("%w: %w", errNotSent, ErrHelperExited)
	}
	if err := h.ex.begin(deadline); err != nil {
		return fmt.Errorf("%w: %w", errNotSent, err)
	}
	h.w.cur = deadline
	return nil
}

// send writes req to h. The request was validated by the pool already.
func (h *helper) send(req framing.Request) (bool, error) {
	// Before the write: the helper may print the password at once.
	h.proc.Redact(req.Password)
	return false, h.ex.send(req)
}

// readAnswer reads one answer within the read deadline already set. Any
// error leaves h out of step: it must be retired.
func (h *helper) readAnswer() (bool, error) { return h.ex.readAnswer() }

// confirm asks h again the request it just answered yes: if that yes was
// a stray "1", the real answer is still to come and is read now, and
// disagrees. Only idempotent requests may be asked twice. The request is
// encoded again: send wiped the buffer that held it. sent reports whether
// the request was written whole, so that its answer is still due.
func (h *helper) confirm(req framing.Request) (sent bool, err error) {
	if _, err := h.send(req); err != nil {
		return false, err
	}
	yes, err := h.readAnswer()
	if err == nil && !yes {
		err = &outOfStep{what: stepDisagree, n: 2}
	}
	return true, err
}

// settle looks, after an answer, for more output, which shows that h is
// out of step and that the answer may not be its own: whatever has
// arrived already and, with wait > 0, whatever arrives within wait. A
// helper that exits after answering is not out of step. The exchange's
// deadline is put back afterwards, for what it still has to read (a
// confirmation).
func (h *helper) settle(wait time.Duration) error {
	var n int
	if wait <= 0 {
		n, _ = h.proc.TryRead(h.ex.rbuf)
	} else if err := h.proc.SetReadDeadline(time.Now().Add(wait)); err == nil {
		n, _ = h.proc.Read(h.ex.rbuf)
		h.proc.SetReadDeadline(h.w.cur)
	}
	if n > 0 {
		return &outOfStep{what: stepExtra, n: n}
	}
	return nil
}

func ioError(err error) error {
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return ErrTimeout
	case errors.Is(err, io.EOF), errors.Is(err, os.ErrClosed):
		return ErrHelperExited
	}
	return fmt.Errorf("%w: %w", ErrHelperExited, err)
}

// retire marks h as never to be used again and tells its slot to replace it.
// The first reason given wins; it reports whether this call retired h.
func (h *helper) retire(reason RetireReason) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.gone.Load() {
		return false
	}
	h.reason = reason
	h.gone.Store(true)
	close(h.retired)
	return true
}

// isGone reports whether h was retired or has exited.
func (h *helper) isGone() bool { return h.gone.Load() }

// interrupt makes a read or write in progress return at once, if the
// holder still allows it. It runs on a probe's context watcher's
// goroutine.
func (h *helper) interrupt() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.armed {
		// Both ends: a write blocked on a helper that does not read ends
		// too (and the helper is retired: its request is cut short).
		h.proc.SetDeadline(time.Now())
	}
}

func (h *helper) arm(on bool) {
	h.mu.Lock()
	h.armed = on
	h.mu.Unlock()
}

// retireReason classifies an exchange error for logs and the restart
// policy.
func retireReason(err error) RetireReason {
	switch {
	case errors.Is(err, ErrTimeout):
		return RetireTimeout
	case errors.Is(err, ErrProtocol):
		return RetireProtocol
	case errors.Is(err, ErrHelperExited):
		return RetireExit
	}
	return RetireError
}
