package pool

import (
	"errors"
	"fmt"

	"github.com/authpool/authpool/framing"
)

// Sentinel errors. Every error the pool returns wraps at most one of them;
// test with errors.Is. None of them, nor anything wrapping them, contains a
// password.
var (
	// ErrBadRequest: the request was refused before it reached a helper.
	ErrBadRequest = framing.ErrBadRequest
	// ErrProtocol: the helper answered something that is not an answer; it
	// has been replaced.
	ErrProtocol = framing.ErrProtocol
	// ErrTimeout: no answer within Config.Timeout, or no helper free within
	// it; a helper that did not answer in time has been replaced.
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
	// Config.OutOfStepLimit times; no request reaches one until a probe
	// proves the command again. It wraps ErrUnavailable.
	ErrUntrusted = fmt.Errorf("%w: helpers caught out of step; untrusted until a probe passes", ErrUnavailable)
	// ErrHelperStart: Probe (or Reconfigure) found that the helper command
	// cannot be started, or that its helper ended before its first answer.
	ErrHelperStart = errors.New("helper cannot start")
)
