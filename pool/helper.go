package pool

import (
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

// helper is one running helper process. Its exchange state (dec, buffers,
// served) belongs to whoever holds it: the caller that checked it out, or
// its slot's worker. gone and reason are shared and guarded by mu.
type helper struct {
	slot    *slot
	proc    *ptyproc.Process
	started time.Time
	conf    *Config // the settings it was started with
	gen     uint64  // the pool's specGen then
	epoch   uint64  // the pool's trustEpoch when it was trusted to serve

	dec    framing.AnswerDecoder
	wbuf   []byte
	rbuf   []byte
	served atomic.Int64 // answers read; atomic only so Stats can read it
	probes atomic.Int64 // of those, answers to the pool's own probes

	mu      sync.Mutex
	gone    bool          // retired or exited: never to be handed out again
	reason  RetireReason  // why it was retired (RetireExit if nobody asked it to go)
	retired chan struct{} // closed by retire
	armed   bool          // a context watcher may still interrupt a read
}

// errNotSent marks failures that happened before the request was written:
// asking another helper is always safe.
var errNotSent = errors.New("request not sent")

// prepare readies h for one exchange that must end by deadline. Output
// that arrived while nobody was asking is a stale or spontaneous answer;
// reading it as the coming request's answer is exactly the bug this pool
// exists to prevent, so it fails the exchange before anything is sent.
func (h *helper) prepare(deadline time.Time) error {
	if n, err := h.proc.TryRead(h.rbuf); n > 0 {
		return fmt.Errorf("%w: %w", errNotSent, &outOfStep{what: stepIdle, n: n})
	} else if err != nil {
		return fmt.Errorf("%w: %w", errNotSent, ErrHelperExited)
	}
	h.dec.Reset()
	if err := h.proc.SetReadDeadline(deadline); err != nil {
		return fmt.Errorf("%w: %w", errNotSent, ioError(err))
	}
	if err := h.proc.SetWriteDeadline(deadline); err != nil {
		return fmt.Errorf("%w: %w", errNotSent, ioError(err))
	}
	return nil
}

// send writes req to h. The request was validated by the pool already.
func (h *helper) send(req framing.Request) (bool, error) {
	// Before the write: the helper may print the password at once.
	h.proc.Redact(req.Password)
	var err error
	h.wbuf, err = h.conf.Protocol.AppendRequest(h.wbuf[:0], req)
	if err != nil {
		return false, err
	}
	_, err = h.proc.Write(h.wbuf)
	// The request, password included, is the helper's now: no copy of it
	// stays in this buffer until the next request overwrites it.
	clear(h.wbuf)
	if err != nil {
		return false, ioError(err)
	}
	return false, nil
}

// readAnswer reads one answer within the read deadline already set. Any
// error leaves h out of step: it must be retired.
func (h *helper) readAnswer() (bool, error) {
	for {
		n, err := h.proc.Read(h.rbuf)
		if n > 0 {
			used, yes, done, perr := h.dec.Feed(h.rbuf[:n])
			if perr != nil {
				return false, perr
			}
			if done {
				if used < n {
					// A second answer, or junk, in the same read: the helper
					// is out of step, and which answer is honest cannot be
					// known, so neither is delivered.
					return false, &outOfStep{what: stepExtra, n: n - used}
				}
				return yes, nil
			}
		}
		if err != nil {
			return false, ioError(err)
		}
	}
}

// confirm asks h again the request it just answered yes: if that yes was
// a stray "1", the real answer is still to come and is read now, and
// disagrees. Only idempotent requests may be asked twice. The request is
// encoded again: send wiped the buffer that held it.
func (h *helper) confirm(req framing.Request) error {
	if _, err := h.send(req); err != nil {
		return err
	}
	yes, err := h.readAnswer()
	if err == nil && !yes {
		err = &outOfStep{what: stepDisagree, n: 2}
	}
	return err
}

// settle looks, after an answer, for more output, which shows that h is
// out of step and that the answer may not be its own: whatever has
// arrived already and, with wait > 0, whatever arrives within wait. A
// helper that exits after answering is not out of step.
func (h *helper) settle(wait time.Duration) error {
	var n int
	if wait <= 0 {
		n, _ = h.proc.TryRead(h.rbuf)
	} else if err := h.proc.SetReadDeadline(time.Now().Add(wait)); err == nil {
		n, _ = h.proc.Read(h.rbuf)
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
	if h.gone {
		return false
	}
	h.gone, h.reason = true, reason
	close(h.retired)
	return true
}

// isGone reports whether h was retired or has exited.
func (h *helper) isGone() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.gone
}

// interrupt makes a read in progress return at once, if the holder still
// allows it. It runs on the context watcher's goroutine.
func (h *helper) interrupt() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.armed {
		h.proc.SetReadDeadline(time.Now())
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
