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
// which sheds load instead of letting latency grow without bound. Do is
// synchronous in both modes, as net/http runs a handler: a caller that
// wants an answer later asks in a goroutine of its own, which it owns.
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
// # Out of step
//
// A helper is out of step when its output does not match its requests:
// output while no request was outstanding, more output after an answer,
// junk, or a yes that asking again contradicts. The one that is caught is
// replaced and the answer in question never delivered. But a stray "1"
// that arrives after a request was written and before its real answer is
// indistinguishable from that answer, and the helper, one answer behind,
// may hand out more before it is caught. So:
//
//   - A yes to auth or isuser is asked again, and must be confirmed, while
//     the helper is young (its first 16 answers) and while its command is
//     suspect (a helper of it was caught within Config.OutOfStepWindow, or
//     it is on probation). A stray read as the answer leaves the real one
//     to be read by the second asking, which then disagrees. Helpers that
//     never get out of step pay only for their first few yes answers (and
//     log those logins twice). Config.NoConfirm turns this off for helpers
//     that accept a password only once.
//   - Config.AnswerGrace, off by default, also holds every yes that long
//     to see whether more output follows.
//   - When helpers of the current command are caught Config.OutOfStepLimit
//     times (3) within Config.OutOfStepWindow (1m), the command is no
//     longer trusted: every helper is stopped, every request fails at once
//     with ErrUntrusted (never a yes, also for answers read after the
//     moment it was distrusted), and no helper starts, so nothing spins.
//   - After Config.UntrustedFor (30s), one slot starts a helper and asks
//     it three times for a random password of a user that cannot exist
//     ("auth:authpool-probe:probe.invalid:..."), each answer to be "0"
//     followed by 100ms of silence. If it passes, the command is trusted
//     again, on probation for OutOfStepWindow: one more catch distrusts it
//     at once. Each failed probe and each catch during probation doubles
//     the wait, up to Config.MaxUntrustedFor (10m).
//   - Reconfigure to a new command judges it afresh.
//
// What this does not close: a helper that answers honestly past its young
// answers and only then starts writing strays, under load heavy enough
// that it never idles, can stay one answer behind, unseen, until two of
// its outputs meet in one read; each stray it writes meanwhile can be
// taken for a yes (tests saw up to 12 of 600 wrong passwords; from the
// start, at most 2). Only confirming every yes, at one more exchange
// each, or a grace longer than the helper's slowest answer would close it.
//
// The limit trades availability for safety: a helper that can be made to
// misbehave by what a caller sends (a user name, say) lets that caller
// stop all logins for UntrustedFor; it could otherwise have used the same
// bug to be let in.
//
// # Proving a command
//
// Probe starts one helper and asks it whether a user that cannot exist
// exists ("isuser:authpool-probe:probe.invalid"); any one well-formed
// answer, then silence, passes. The daemon probes its command before it
// says it is serving and Reconfigure before it replaces any helper; a slot
// asks the same (without the silence) of a helper it starts to replace a
// recycled one, before the next may be recycled. Its errors say what an operator must fix: not found, not
// executable, a directory, a #! interpreter that is missing, or how the
// helper ended before answering, with the last of its stderr.
//
// # Ownership
//
// Every helper process and goroutine belongs to the Pool and is gone when
// Shutdown or Close returns. A caller that gives up while its helper is
// answering gets its context's error at once (within 5 ms when its
// context is cancelled rather than past its deadline: see watch.go); the
// answer is read and thrown away in the background so that the helper
// stays in step and in service. The same happens to the first
// answer of a helper still starting up when it comes after Timeout: the
// caller waits Timeout, the helper is given StartTimeout more.
//
// The request path, and who owns each goroutine:
//
//	Blocking:    caller goroutine: precheck, take an idle helper (or wait
//	             in line for one), exchange, give it back (or hand it to the
//	             first in line, and let it run at once)
//	NonBlocking: caller goroutine: precheck, enqueue, wait for the Result
//	             slot goroutine (one per helper, the helper's worker):
//	             take a job, exchange, deliver its Result
//	besides:     for an answer whose caller has its error already, a
//	             drain goroutine of the pool's (Blocking; a worker reads it
//	             itself); the watch, one goroutine that interrupts the
//	             exchanges whose callers gave up, running only while
//	             exchanges with callers that can give up are in flight;
//	             the line's timer, which ends waits past QueueTimeout
//
// Waiting costs no allocation: waiters and jobs are reused; QueueTimeout
// is kept by one timer for the whole line of waiting callers (Blocking)
// and by each job's reused timer (NonBlocking).
//
// # Vocabulary
//
// The errors and Result are package result's, under their older names here.
// What a slot is doing (HelperState) and why a helper left service
// (RetireReason) are listed in vocabulary.go; they are the values of
// HelperStats, of `authpool status` and of the metrics' labels. WaitReady
// waits until every slot is StateReady.
package pool
