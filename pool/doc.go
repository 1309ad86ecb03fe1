// Package pool runs a fixed number of external auth helpers and sends
// requests to them, so that Go XMPP servers (and the authpool daemon) can
// ask "is this password right?" concurrently, with a deadline, and never get
// an answer that belongs to someone else.
//
// # Why
//
// The helper protocols carry no request id: an answer is matched to a
// request only by order. Prosody's mod_auth_external reads whatever comes
// next after a timeout, so a late "1" for one user logs in the next. This
// pool keeps exactly one request outstanding per helper and treats a helper
// as out of step, and replaces it, whenever order could be lost: it missed
// its deadline, answered with junk or with more than one answer, or wrote
// while nobody was asking. Requests it refuses never reach a helper (see
// package framing for the rules).
//
// # Modes
//
// In Blocking mode a caller takes an idle helper, waiting in line (bounded
// by its context) when all are busy, asks it and gives it back. In
// NonBlocking mode requests enter a bounded queue served by one worker per
// helper; when the queue is full a request fails at once with ErrOverloaded,
// which sheds load instead of letting latency grow without bound. Submit
// offers asynchronous requests in both modes.
//
// # Restarts
//
// Each helper has a slot whose goroutine starts it, watches it, and starts
// the next one when it exits or is replaced. The first two failures in a row
// restart at once (one bad request, asked twice, can cost two helpers);
// after that the slot waits an exponentially growing, jittered delay, and
// while every slot waits requests fail at once with ErrUnavailable rather
// than queueing behind a helper that cannot start. A helper that answers a
// request, or runs for HealthyAfter, clears its slot's failure count. An
// auth or isuser whose helper died before answering is asked once more of
// another helper; setpass and the ejabberd writes are not, since they may
// have taken effect.
//
// # Ownership
//
// Every helper process and goroutine belongs to the Pool and is gone when
// Shutdown or Close returns. A caller that gives up while its helper is
// answering gets its context's error at once; the answer is read and thrown
// away in the background so that the helper stays in step and in service.
package pool
