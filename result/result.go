package result

import (
	"context"
	"errors"
	"fmt"

	"github.com/authpool/authpool/framing"
)

// Result is the outcome of an asynchronous request. OK means nothing unless
// Err is nil: an error is never a yes.
type Result struct {
	OK  bool
	Err error
}

// Sentinel errors. Every error a request returns wraps at most one of them;
// test with errors.Is. None of them, nor anything wrapping them, contains a
// password.
var (
	// ErrBadRequest: the request was refused before it reached a helper.
	ErrBadRequest = framing.ErrBadRequest
	// ErrProtocol: the helper answered something that is not an answer; it
	// has been replaced.
	ErrProtocol = framing.ErrProtocol
	// ErrTimeout: no answer within the pool's Timeout, or no helper free
	// within it; a helper that did not answer in time has been replaced.
	ErrTimeout = errors.New("timed out")
	// ErrUnavailable: no helper can run (every one is failing to start or
	// crashing); the pool keeps trying in the background.
	ErrUnavailable = errors.New("no helper available")
	// ErrOverloaded: the non-blocking queue is full.
	ErrOverloaded = errors.New("queue full")
	// ErrHelperExited: the helper died before answering (and, for auth and
	// isuser, so did the one asked again).
	ErrHelperExited = errors.New("helper exited before answering")
	// ErrClosed: the pool is shutting down or closed.
	ErrClosed = errors.New("pool closed")
	// ErrUntrusted: helpers of the current command were caught out of step
	// too often; no request reaches one until a probe proves the command
	// again. It wraps ErrUnavailable.
	ErrUntrusted = fmt.Errorf("%w: helpers caught out of step; untrusted until a probe passes", ErrUnavailable)
	// ErrHelperStart: the helper command cannot be started, or its helper
	// ended before its first answer (pool.Probe, pool.Reconfigure).
	ErrHelperStart = errors.New("helper cannot start")
)

// Kind names err as the native protocol does. The order matters where one
// error wraps another: ErrUntrusted is checked before ErrUnavailable.
func Kind(err error) framing.ErrorKind {
	switch {
	case errors.Is(err, ErrBadRequest):
		return framing.KindBadRequest
	case errors.Is(err, ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return framing.KindTimeout
	case errors.Is(err, ErrUntrusted):
		return framing.KindUntrusted
	case errors.Is(err, ErrUnavailable):
		return framing.KindUnavailable
	case errors.Is(err, ErrOverloaded):
		return framing.KindOverloaded
	case errors.Is(err, ErrClosed), errors.Is(err, context.Canceled):
		return framing.KindClosed
	case errors.Is(err, ErrProtocol):
		return framing.KindProtocol
	case errors.Is(err, ErrHelperExited):
		return framing.KindExited
	}
	return framing.KindInternal
}

// Error returns the sentinel error a native answer's kind stands for, or nil
// for KindInternal and any kind this version does not know.
func Error(kind framing.ErrorKind) error {
	switch kind {
	case framing.KindBadRequest:
		return ErrBadRequest
	case framing.KindTimeout:
		return ErrTimeout
	case framing.KindUntrusted:
		return ErrUntrusted
	case framing.KindUnavailable:
		return ErrUnavailable
	case framing.KindOverloaded:
		return ErrOverloaded
	case framing.KindClosed:
		return ErrClosed
	case framing.KindProtocol:
		return ErrProtocol
	case framing.KindExited:
		return ErrHelperExited
	}
	return nil
}

// Outcome names a request's result for metrics and logs: "yes", "no", or
// the error's kind ("timeout", "badrequest", ...).
func Outcome(yes bool, err error) string {
	switch {
	case err != nil:
		return string(Kind(err))
	case yes:
		return "yes"
	}
	return "no"
}
