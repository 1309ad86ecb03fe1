package pool

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/authpool/authpool/framing"
	"github.com/authpool/authpool/ptyproc"
)

// Mode is how requests reach helpers. The zero value is Blocking.
type Mode uint8

const (
	// Blocking: the caller's goroutine takes an idle helper (waiting in
	// FIFO order, bounded by its context), asks it, and gives it back.
	Blocking Mode = iota
	// NonBlocking: requests enter a bounded queue served by one worker per
	// helper; a full queue fails at once with ErrOverloaded.
	NonBlocking
)

// String returns the mode's flag name.
func (m Mode) String() string {
	switch m {
	case Blocking:
		return "blocking"
	case NonBlocking:
		return "nonblocking"
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}

// MarshalText writes the name String gives, so that JSON (logs, status)
// says Mode's name, not its number.
func (m Mode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// ParseMode returns the mode named s ("blocking" or "nonblocking").
func ParseMode(s string) (Mode, error) {
	switch s {
	case "blocking":
		return Blocking, nil
	case "nonblocking", "non-blocking":
		return NonBlocking, nil
	}
	return 0, fmt.Errorf("unknown mode %q (want blocking or nonblocking)", s)
}

// Config configures a Pool. Command is required; every zero value has the
// default its comment gives.
type Config struct {
	// Command is the helper program and its arguments.
	Command []string
	// Env adds KEY=VALUE pairs to the helper's minimal environment (PATH,
	// HOME, LANG).
	Env []string
	// Dir is the helpers' working directory; empty means the host's.
	Dir string

	// Protocol is what the helpers speak; zero is framing.Generic.
	Protocol framing.Protocol
	// Transport connects helpers; zero is ptyproc.PTY.
	Transport ptyproc.Transport
	// Mode; zero is Blocking.
	Mode Mode

	// Processes is the number of helpers; zero means 1.
	Processes int
	// Timeout is what a caller waits for a helper's answer, from the
	// moment its request is handed to the helper, always; a helper that
	// misses it is replaced (but see StartTimeout). Zero means 5s.
	Timeout time.Duration
	// StartTimeout is added to Timeout for how long a new helper is given
	// for its first answer, which also waits for it to start up, before it
	// is replaced: an interpreter that takes 10ms to start on an idle
	// machine can take a second on a loaded one, and a helper killed for
	// that would be replaced by another just as slow. It never lengthens a
	// caller's wait: the first caller gets ErrTimeout after Timeout, and
	// the helper's answer, when it comes, is read and thrown away. Zero
	// means Timeout.
	StartTimeout time.Duration
	// QueueTimeout bounds the wait for a free helper (Blocking) or for a
	// worker (NonBlocking) when the caller's context has no deadline. Zero
	// means twice Timeout, so that a request queued behind a hung helper
	// outlives the hang.
	QueueTimeout time.Duration
	// QueueSize bounds the NonBlocking queue; zero means 64 per helper.
	QueueSize int

	// StopGrace is how long a helper has after SIGTERM before SIGKILL, at
	// shutdown and when it is replaced; zero means 2s.
	StopGrace time.Duration
	// RestartDelay is the first pause before starting a helper again after
	// three failures in a row (a failure is a helper that could not start or
	// died by itself; the first two restart at once); it doubles with each
	// further failure, with ±20% jitter. While a slot waits, it does not
	// count as able to serve, and when no slot can, requests fail at once
	// with ErrUnavailable. Zero means 100ms.
	RestartDelay time.Duration
	// MaxRestartDelay caps that pause; zero means 10s.
	MaxRestartDelay time.Duration
	// HealthyAfter is how long a helper must run for its slot's failure
	// count to be forgotten (answering a request forgets it too); zero means
	// 10s.
	HealthyAfter time.Duration
	// newTimer makes the timer a slot waits on between restarts; nil means
	// time.NewTimer's. Tests in this package set it to check the backoff
	// schedule without waiting it out. Only New's Config counts.
	newTimer func(time.Duration) (c <-chan time.Time, stop func() bool)

	// MaxRequests, when positive, replaces a helper after it has answered
	// that many requests; MaxAge, when positive, after it has run that
	// long. Helpers are replaced between requests and one at a time, so no
	// request fails for it. Zero means never.
	MaxRequests int
	MaxAge      time.Duration

	// OutOfStepLimit is how many times helpers of the current command may
	// be caught out of step (output while no request was outstanding, more
	// output after an answer, junk, a probe answered wrong) within
	// OutOfStepWindow before the command is no longer trusted: every helper
	// is stopped and every request fails at once with ErrUntrusted until a
	// probe proves the command again (see "Out of step" in the package
	// documentation). A helper caught out of step is replaced and the
	// answer in question is never delivered, but a stray "1" that arrives
	// after a request was sent and before its real answer cannot be told
	// from that answer until later: each catch may have let a yes through
	// (the package documentation says how yes answers are confirmed, and
	// what that leaves open). Zero means 3.
	OutOfStepLimit int
	// OutOfStepWindow is how long a helper caught out of step counts
	// against the limit, and how long the probation lasts after a probe
	// passes (during it, one more catch distrusts the command again). Zero
	// means one minute.
	OutOfStepWindow time.Duration
	// UntrustedFor is how long the command stays untrusted before one
	// helper is started and probed; it doubles after each failed probe and
	// each catch during probation, up to MaxUntrustedFor. While untrusted,
	// no other helper runs. Zero means 30s.
	UntrustedFor time.Duration
	// MaxUntrustedFor caps UntrustedFor's doubling; zero means 10 minutes.
	MaxUntrustedFor time.Duration
	// AnswerGrace is how long, after a yes answer, the pool watches the
	// helper for more output before it delivers the answer: a stray "1"
	// read as the answer is followed by the real one, and then neither is
	// delivered. It delays every yes answer by that much and catches only
	// helpers that answer faster than it, so it is off by default; the
	// output is always caught before the helper's next request. Zero means
	// none.
	AnswerGrace time.Duration
	// NoConfirm turns off asking a helper twice to confirm a yes to auth
	// or isuser, which the pool otherwise does for a helper's first
	// answers and while its command is suspect (see "Out of step" in the
	// package documentation). Set it only for helpers that accept a
	// password once (one-time tokens), which would answer the second
	// asking no: without confirmation, a stray "1" from a helper not yet
	// caught out of step is more likely to be taken for an answer.
	NoConfirm bool

	// Logger receives events; nil discards them. Passwords are never
	// logged.
	Logger *slog.Logger
	// Observer receives events for metrics; nil means none.
	Observer Observer
}

func (c Config) withDefaults() (Config, error) {
	if len(c.Command) == 0 || c.Command[0] == "" {
		return c, errors.New("pool: Config.Command is empty")
	}
	if c.Processes < 0 || c.QueueSize < 0 || c.Timeout < 0 || c.MaxRequests < 0 || c.MaxAge < 0 {
		return c, errors.New("pool: negative Processes, QueueSize, Timeout, MaxRequests or MaxAge")
	}
	if c.OutOfStepLimit < 0 || c.OutOfStepWindow < 0 || c.UntrustedFor < 0 || c.MaxUntrustedFor < 0 || c.AnswerGrace < 0 {
		return c, errors.New("pool: negative OutOfStepLimit, OutOfStepWindow, UntrustedFor, MaxUntrustedFor or AnswerGrace")
	}
	if c.Processes == 0 {
		c.Processes = 1
	}
	if c.Timeout == 0 {
		c.Timeout = 5 * time.Second
	}
	if c.StartTimeout <= 0 {
		c.StartTimeout = c.Timeout
	}
	if c.QueueTimeout <= 0 {
		c.QueueTimeout = 2 * c.Timeout
	}
	if c.QueueSize == 0 {
		c.QueueSize = 64 * c.Processes
	}
	if c.StopGrace <= 0 {
		c.StopGrace = 2 * time.Second
	}
	if c.RestartDelay <= 0 {
		c.RestartDelay = 100 * time.Millisecond
	}
	if c.MaxRestartDelay <= 0 {
		c.MaxRestartDelay = 10 * time.Second
	}
	if c.MaxRestartDelay < c.RestartDelay {
		c.MaxRestartDelay = c.RestartDelay
	}
	if c.HealthyAfter <= 0 {
		c.HealthyAfter = 10 * time.Second
	}
	if c.OutOfStepLimit == 0 {
		c.OutOfStepLimit = 3
	}
	if c.OutOfStepWindow == 0 {
		c.OutOfStepWindow = time.Minute
	}
	if c.UntrustedFor == 0 {
		c.UntrustedFor = 30 * time.Second
	}
	if c.MaxUntrustedFor == 0 {
		c.MaxUntrustedFor = 10 * time.Minute
	}
	c.MaxUntrustedFor = max(c.MaxUntrustedFor, c.UntrustedFor)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Observer == nil {
		c.Observer = nopObserver{}
	}
	if c.Mode > NonBlocking {
		return c, fmt.Errorf("pool: unknown mode %d", c.Mode)
	}
	return c, nil
}
