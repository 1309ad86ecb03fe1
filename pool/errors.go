package pool

import "github.com/authpool/authpool/result"

// Sentinel errors. They are package result's values under their older names,
// kept so that code written against pool compiles and errors.Is matches
// either name; new code that does not run helpers itself should import
// result (see its doc for the kinds the native protocol names them by).
var (
	ErrBadRequest   = result.ErrBadRequest   // alias of result.ErrBadRequest
	ErrProtocol     = result.ErrProtocol     // alias of result.ErrProtocol
	ErrTimeout      = result.ErrTimeout      // alias of result.ErrTimeout
	ErrUnavailable  = result.ErrUnavailable  // alias of result.ErrUnavailable
	ErrOverloaded   = result.ErrOverloaded   // alias of result.ErrOverloaded
	ErrHelperExited = result.ErrHelperExited // alias of result.ErrHelperExited
	ErrClosed       = result.ErrClosed       // alias of result.ErrClosed
	// ErrUntrusted (alias of result.ErrUntrusted): helpers of the current
	// command were caught out of step Config.OutOfStepLimit times; no
	// request reaches one until a probe proves the command again. It wraps
	// ErrUnavailable.
	ErrUntrusted = result.ErrUntrusted
	// ErrHelperStart (alias of result.ErrHelperStart): Probe (or
	// Reconfigure) found that the helper command cannot be started, or that
	// its helper ended before its first answer.
	ErrHelperStart = result.ErrHelperStart
)
