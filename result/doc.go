// Package result holds what a request to authpool can come back with: the
// Result of an asynchronous request, the sentinel errors every layer (pool,
// server, cache, client) returns, and the mapping between those errors and
// the error kinds the native protocol puts on the wire (framing.ErrorKind,
// docs/PROTOCOL.md).
//
// It is a leaf: it imports nothing of authpool but framing, so a program that
// only talks to the daemon (package client) does not link the pool, ptyproc
// or a pty library. Package pool re-exports the same values under its old
// names (pool.ErrTimeout is result.ErrTimeout), so errors.Is works across
// packages whichever name the caller uses.
//
// The vocabulary, error to kind and back:
//
//	ErrBadRequest    badrequest   refused before reaching a helper
//	ErrTimeout       timeout      no answer, or no free helper, in time (also context.DeadlineExceeded)
//	ErrUntrusted     untrusted    helpers were caught out of step; wraps ErrUnavailable
//	ErrUnavailable   unavailable  no helper can run
//	ErrOverloaded    overloaded   the non-blocking queue is full
//	ErrClosed        closed       shutting down (also context.Canceled)
//	ErrProtocol      protocol     a helper answered junk and was replaced
//	ErrHelperExited  exited       a helper died before answering
//	anything else    internal
//
// ErrHelperStart has no kind of its own: it comes from Probe and Reconfigure,
// never from a request.
package result
