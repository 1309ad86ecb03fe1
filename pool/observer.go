package pool

import (
	"time"

	"github.com/authpool/authpool/framing"
	"github.com/authpool/authpool/result"
)

// Observer receives the pool's events, for metrics. Its methods are called
// on request paths and must be fast and safe for concurrent use. They are
// given no user, server or password.
type Observer interface {
	// Request is called once per request the pool took: its operation, its
	// outcome (Outcome), how long it waited for a helper, and how long it
	// took in all.
	Request(op framing.Op, outcome string, wait, total time.Duration)
	// HelperStarted is called when a helper has started, with how long its
	// start took.
	HelperStarted(spawn time.Duration)
	// HelperEnded is called when a helper leaves service, with why: one of
	// the RetireReason values (vocabulary.go), as a string so that
	// Observers written before the type existed still satisfy the
	// interface.
	HelperEnded(reason string)
	// OutOfStep is called each time a helper is caught out of step, with
	// what it did: "output_while_idle", "extra_output", "junk",
	// "answers_disagree" or "probe_failed".
	OutOfStep(what string)
	// Trust is called when the helper command stops being trusted
	// (trusted is false, and reason is the last thing a helper did wrong)
	// and when it is trusted again ("probe_passed", "new_command").
	Trust(trusted bool, reason string)
}

// Outcome names a request's result for metrics and logs: "yes", "no", or
// the native protocol's error kind. It is result.Outcome.
func Outcome(yes bool, err error) string { return result.Outcome(yes, err) }

// ErrorKind names err as the native protocol does (docs/PROTOCOL.md). It is
// result.Kind.
func ErrorKind(err error) framing.ErrorKind { return result.Kind(err) }

// nopObserver is the Observer when none is configured.
type nopObserver struct{}

func (nopObserver) Request(framing.Op, string, time.Duration, time.Duration) {}
func (nopObserver) HelperStarted(time.Duration)                              {}
func (nopObserver) HelperEnded(string)                                       {}
func (nopObserver) OutOfStep(string)                                         {}
func (nopObserver) Trust(bool, string)                                       {}
