package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/authpool/authpool/framing"
	"github.com/authpool/authpool/pool"
	"github.com/authpool/authpool/ptyproc"
)

// doctorConfig says what doctor checks, and how long it gives each step.
type doctorConfig struct {
	// pool is the helper as serve would start it: Command, Env, Dir,
	// Protocol and Transport; Timeout and StartTimeout as serve applies
	// them.
	pool pool.Config

	// user, server and password, from --user: a right password, which
	// must get yes; wrong, one that must get no.
	user, server, password, wrong string

	// canary is the password of a user that cannot exist, looked for in
	// the helper's stderr. It is never shown, and never redacted.
	canary string

	// quiet is how long doctor watches a helper after each answer for
	// more output; grace is how long SIGTERM has before SIGKILL, as serve
	// gives it. Zero means 200ms and 2s.
	quiet, grace time.Duration
}

// The user doctor asks about: one that cannot exist (RFC 2606 reserves
// .invalid), as the pool's own probes do.
const (
	doctorUser   = "authpool-doctor"
	doctorServer = "doctor.invalid"
)

// doctorRun is one run of the checks.
type doctorRun struct {
	doctorConfig
	rep  *doctorReport
	name string // the program

	timeout    time.Duration // --timeout: a later answer's limit
	limit      time.Duration // --timeout + --start-timeout: the first answer's
	ext, extT  time.Duration // how much longer doctor waits, to tell slow from never
	hintByHand string        // how to run the helper by hand as serve does
}

// extraWait is how much longer than serve would doctor waits for an
// answer, so that "slow" and "never" can be told apart: as long again,
// at least 5s and at most 30s.
func extraWait(limit time.Duration) time.Duration {
	return min(max(limit, 5*time.Second), 30*time.Second)
}

// doctorBudget bounds a whole run of diagnose with dc: the first answer
// (and the other ways of starting the helper tried meanwhile), the later
// requests, the stop, and a margin.
func doctorBudget(dc doctorConfig) time.Duration {
	d := newDoctorRun(dc)
	first := max(d.limit+d.ext, 2*d.limit) // the alternates start when the first limit has passed
	later := 6 * (d.timeout + d.extT + d.quiet + time.Second)
	return first + later + d.grace + survivorWait + 10*time.Second
}

func newDoctorRun(dc doctorConfig) *doctorRun {
	if dc.quiet <= 0 {
		dc.quiet = 200 * time.Millisecond
	}
	if dc.grace <= 0 {
		dc.grace = 2 * time.Second
	}
	timeout := dc.pool.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	start := dc.pool.StartTimeout
	if start <= 0 {
		start = timeout
	}
	d := &doctorRun{
		doctorConfig: dc,
		name:         dc.pool.Command[0],
		timeout:      timeout,
		limit:        timeout + start,
	}
	d.ext, d.extT = extraWait(d.limit), extraWait(timeout)
	d.rep = &doctorReport{Helper: d.name, Protocol: dc.pool.Protocol, Transport: dc.pool.Transport, Timeout: textDuration(timeout)}
	d.hintByHand = byHand(dc.pool)
	return d
}

// diagnose runs every check on dc's helper and reports what it found.
// Every step has a deadline, and every process it started is gone when it
// returns.
func diagnose(ctx context.Context, dc doctorConfig) *doctorReport {
	d := newDoctorRun(dc)
	h, first := d.first(ctx)
	if h != nil {
		exs := d.rest(ctx, h, first)
		d.startTime(exs)
		d.output(exs)
		if h.stderr.canarySeen() {
			d.rep.add(finding{ID: findPasswordOnStderr, Severity: problem,
				What: "it writes the password it is sent to stderr: a test password, sent in an auth request, came back there",
				Fix: "remove that print. authpool blanks the passwords it sent from the stderr lines it logs, but only in the forms it " +
					"knows (as is, escaped, quoted), and whatever else reads the helper's stderr sees them"})
		}
		d.stop(h)
		d.passed(exs)
		// What the helper wrote may hold a password (an echo): the report
		// has what it shows by now, copied.
		for _, ex := range exs {
			clear(ex.out)
			clear(ex.idle)
		}
		clear(h.rbuf)
	}
	p, _ := d.rep.problems()
	d.rep.Fit = p == 0 && ctx.Err() == nil
	return d.rep
}

func (d *doctorRun) probe() framing.Request {
	return framing.Request{Op: framing.OpIsUser, User: doctorUser, Server: doctorServer}
}

// first starts the helper and asks it one question. A helper that gets
// it right is returned with that exchange. When it cannot start, or gives
// no answer, first says why (trying meanwhile the other protocol, and a
// pty for a pipe) and returns nil.
func (d *doctorRun) first(ctx context.Context) (*doctorHelper, *exchange) {
	h, err := startDoctorHelper(&d.pool, d.pool.Protocol, d.pool.Transport, d.canary)
	if err != nil {
		kind, cause := pool.DiagnoseStart(d.name, d.pool.Dir, err)
		d.cannotRun(kind, cause, nil)
		return nil, nil
	}
	t0 := h.started
	ex := h.send(d.probe())
	h.await(ctx, ex, t0.Add(d.limit), d.quiet)
	var alts []*alternate
	actx, stopAlts := context.WithCancel(ctx)
	defer stopAlts()
	if ex.quietAt.IsZero() {
		// No answer in the time serve gives: try the other ways it
		// might work while waiting on, to tell slow from never, until
		// one of them answers, which says it all.
		mctx, stopMain := context.WithCancel(ctx)
		alts = d.alternates(actx, t0.Add(d.limit+d.ext), func() { stopMain(); stopAlts() })
		if !ex.ended {
			h.await(mctx, ex, t0.Add(d.limit+d.ext), d.quiet)
		}
		stopMain()
	}
	ex.finish()
	if ex.read.answered {
		stopAlts()
		closeAlternates(alts, nil)
		d.rep.FirstAnswer = textDuration(ex.took)
		return h, ex
	}
	var won *alternate
	for _, a := range alts {
		<-a.done
		if won == nil && a.ex != nil && a.ex.read.answered {
			won = a
		}
	}
	closeAlternates(alts, won)
	if won != nil {
		h.close()
		d.rep.add(won.finding(d))
		d.rep.FirstAnswer = textDuration(won.ex.took)
		return won.h, won.ex
	}
	d.noFirstAnswer(h, ex)
	h.close()
	return nil, nil
}

// startTime judges the time from a helper's start to its first answer, of
// which as much as its fastest later answer took is not start-up.
func (d *doctorRun) startTime(exs []*exchange) {
	took := exs[0].took
	startup := took
	for _, ex := range exs[1:] {
		if ex.read.answered {
			startup = min(startup, took-ex.took)
		}
	}
	fix := fmt.Sprintf("raise --start-timeout to %s or more (serve gives a new helper --timeout plus --start-timeout), "+
		"or make it start faster: load what it needs when it is first needed", textDuration(2*startup))
	switch {
	case took > d.limit && startup > d.limit-d.timeout:
		d.rep.add(finding{ID: findSlowStart, Severity: problem, Fix: fix,
			What: fmt.Sprintf("its first answer came %s after it started; serve gives a new helper %s (--timeout plus --start-timeout), "+
				"then replaces it with another as slow, again and again", textDuration(took), textDuration(d.limit))})
	case took > d.timeout && took-startup <= d.timeout:
		// A caller waits --timeout, never more: the helper is kept, but
		// the requests it gets while it starts fail. (When answering
		// alone takes that long, slow_answer says so.)
		d.rep.add(finding{ID: findSlowStart, Severity: warning,
			Fix: fmt.Sprintf("raise --timeout to %s or more if the XMPP server waits that long, or make it start faster", textDuration(2*took)),
			What: fmt.Sprintf("its first answer came %s after it started, later than the %s a caller waits (--timeout): "+
				"the first requests each new helper gets fail with a timeout (the helper is kept)", textDuration(took), textDuration(d.timeout))})
	case took > d.limit/2 && startup > (d.limit-d.timeout)/2:
		d.rep.add(finding{ID: findSlowStart, Severity: warning, Fix: fix,
			What: fmt.Sprintf("its first answer came %s after it started, more than half the %s serve gives a new helper: "+
				"on a loaded machine it may not make it", textDuration(took), textDuration(d.limit))})
	}
}

// alternate is the helper started another way than asked, to see whether
// that way it answers: the other protocol, or a pty instead of a pipe.
type alternate struct {
	why       findingID
	protocol  framing.Protocol
	transport ptyproc.Transport
	done      chan struct{}
	h         *doctorHelper // set before done is closed
	ex        *exchange
}

// alternates starts them; answered is called when one of them answers,
// and ends the wait of the others. Each waits until the helper started as
// asked stops being waited for, until, and at least as long as serve gives
// a new helper.
func (d *doctorRun) alternates(ctx context.Context, until time.Time, answered func()) []*alternate {
	other := framing.Ejabberd
	if d.pool.Protocol == framing.Ejabberd {
		other = framing.Generic
	}
	alts := []*alternate{{why: findWrongProtocol, protocol: other, transport: d.pool.Transport}}
	if d.pool.Transport == ptyproc.Pipe {
		alts = append(alts, &alternate{why: findUnflushed, protocol: d.pool.Protocol, transport: ptyproc.PTY})
	}
	for _, a := range alts {
		a.done = make(chan struct{})
		go func() {
			defer close(a.done)
			h, err := startDoctorHelper(&d.pool, a.protocol, a.transport, d.canary)
			if err != nil {
				return
			}
			a.h = h
			a.ex = h.ask(ctx, d.probe(), later(until, h.started.Add(d.limit)), d.quiet)
			if a.ex.read.answered {
				answered()
			}
		}()
	}
	return alts
}

// later is the later of a and b.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// closeAlternates waits for each alternate and ends its helper, but keep's.
func closeAlternates(alts []*alternate, keep *alternate) {
	for _, a := range alts {
		<-a.done
		if a != keep && a.h != nil {
			a.h.close()
		}
	}
}

func (a *alternate) finding(d *doctorRun) finding {
	if a.why == findUnflushed {
		return finding{ID: findUnflushed, Severity: problem,
			What: "it answers under a pty but not over a pipe (--transport pipe): its answers stay in its output buffer, unflushed",
			Fix: "flush after each answer (Python: sys.stdout.flush() or print(..., flush=True); Perl: $| = 1; C: fflush(stdout)), " +
				"or use --transport pty, the default, under which stdio flushes at each line end"}
	}
	return finding{ID: findWrongProtocol, Severity: problem,
		What: fmt.Sprintf("it speaks the %s protocol, not %s: with --protocol %s it gave no answer, with --protocol %s it answered (the other checks ran that way)",
			a.protocol, d.pool.Protocol, d.pool.Protocol, a.protocol),
		Fix: fmt.Sprintf("run it with --protocol %s (generic: one request per line; ejabberd: a 2-byte length before each request and answer), "+
			"and the XMPP server's authpool connect with the protocol the server speaks", a.protocol)}
}

// noFirstAnswer says why the first request got no answer.
func (d *doctorRun) noFirstAnswer(h *doctorHelper, ex *exchange) {
	stderr := h.stderr.tail()
	if ex.read.echo {
		d.rep.add(d.echoFinding())
	}
	switch {
	case ex.ended:
		st := h.exited()
		kind, cause := pool.DiagnoseExit(d.name, d.pool.Dir, d.pool.Env, st)
		if kind != "" {
			d.cannotRun(kind, cause, stderr)
			return
		}
		what := fmt.Sprintf("it %s before answering its first request (%s)", cause, ex.req)
		if st == nil {
			what = fmt.Sprintf("it closed its output before answering its first request (%s)", ex.req)
		}
		if len(ex.out) > 0 {
			what += "; on stdout it wrote " + quoteOutput(ex.out)
		}
		d.rep.add(finding{ID: findExitsEarly, Severity: problem, What: what, Stderr: stderr,
			Fix: "run it by hand as serve does and fix what it says: " + d.hintByHand})
	case ex.read.noLineEnd:
		d.rep.add(finding{ID: findNoLineEnd, Severity: problem, Stderr: stderr,
			What: fmt.Sprintf("it answered %s without a line end: serve waits for the end of the line, and times out", quoteOutput(ex.out)),
			Fix:  `end each answer with a line end: "1\n" or "0\n" (print, not printf without \n; echo, not echo -n)`})
	case len(ex.out) > 0 && !ex.read.echo || len(ex.read.extra) > 0:
		d.rep.add(finding{ID: findJunk, Severity: problem, Stderr: stderr,
			What: fmt.Sprintf("its output to its first request (%s) is no answer: %s", ex.req, quoteOutput(ex.out)),
			Fix:  d.answerRule()})
	case len(ex.out) == 0:
		d.rep.add(finding{ID: findNoAnswer, Severity: problem, Stderr: stderr,
			What: fmt.Sprintf("no answer to its first request (%s) within %s, nor with the other protocol; it is still running, and wrote nothing on stdout",
				ex.req, textDuration(d.limit+d.ext)),
			Fix: d.answerRule() + "; check that it reads stdin (not a file, not its arguments) and does not wait for something else (a database, a lock, a prompt)"})
	}
}

// answerRule says what a helper must write, in the protocol it was asked.
func (d *doctorRun) answerRule() string {
	if d.pool.Protocol == framing.Ejabberd {
		return "read each request as a 2-byte big-endian length and that many bytes, and answer with exactly the 4 bytes 00 02 00 01 (yes) or 00 02 00 00 (no), flushed"
	}
	return "read one request per line and answer each with exactly 1 or 0 and a line end, flushed, and nothing else on stdout"
}

// cannotRun reports a helper that cannot be executed.
func (d *doctorRun) cannotRun(kind pool.StartProblem, cause string, stderr []string) {
	f := finding{Severity: problem, What: fmt.Sprintf("%s cannot be executed: %s", d.name, cause), Stderr: stderr}
	switch kind {
	case pool.StartNotFound:
		f.ID = findNotFound
		f.Fix = "give the helper's absolute path: a relative one is looked up from the helpers' working directory (--dir, else the directory authpool runs in), a bare name in $PATH"
	case pool.StartNotExecutable:
		f.ID = findNotExecutable
		f.Fix = fmt.Sprintf("make it an executable file (chmod 755 %s), in directories authpool's user can search, not on a noexec mount", d.name)
	case pool.StartBadShebang:
		f.ID = findBadShebang
		f.Fix = fmt.Sprintf("make its first line #! and an interpreter's absolute path, such as #!/usr/bin/env python3, with Unix line ends (sed -i 's/\\r$//' %s)", d.name)
	case pool.StartNoInterpreter:
		f.ID = findNoInterpreter
		f.Fix = "install that interpreter, or name one that exists in the #! line (command -v python3 shows where one is); " +
			"the helper gets authpool's $PATH, or the one --env PATH=... gives"
	default:
		f.ID = findCannotStart
		f.Fix = "run it by hand as serve does to see why: " + d.hintByHand
	}
	d.rep.add(f)
}

// byHand is the shell command that runs a helper as serve does: in its
// directory, with the environment serve gives it and nothing else. The
// values of --env and the command's arguments are not shown: they may
// hold secrets.
func byHand(c pool.Config) string {
	var b strings.Builder
	if c.Dir != "" {
		fmt.Fprintf(&b, "cd %s && ", c.Dir)
	}
	b.WriteString(`env -i PATH="$PATH" HOME="$HOME" LANG="$LANG"`)
	for _, kv := range c.Env {
		k, _, _ := strings.Cut(kv, "=")
		fmt.Fprintf(&b, " %s=...", k)
	}
	b.WriteString(" " + c.Command[0])
	if len(c.Command) > 1 {
		b.WriteString(" ARGS")
	}
	b.WriteString(", as the user serve runs as")
	return b.String()
}

// step is one of the later questions, and what its answer must be.
type step struct {
	req  framing.Request
	want bool
	// wrong is the finding for the other answer; "" when either will do.
	wrong func(d *doctorRun) finding
}

func (d *doctorRun) steps() []step {
	steps := []step{
		{req: d.probe(), want: false},
		{req: framing.Request{Op: framing.OpAuth, User: doctorUser, Server: doctorServer, Password: d.canary}, want: false,
			wrong: func(d *doctorRun) finding {
				return finding{ID: findAcceptsAnyPassword, Severity: problem,
					What: fmt.Sprintf("it answered yes to a random password for %s@%s, a user that cannot exist", doctorUser, doctorServer),
					Fix:  "answer yes only when the user exists and the password matches; answer 0 to anything else, and to anything not understood"}
			}},
	}
	if d.user == "" {
		return steps
	}
	who := d.user + "@" + d.server
	checkFix := "check what the helper sees under serve: its working directory (--dir), its environment (only PATH, HOME, LANG and --env), " +
		"its user (serve's) and the files that user may read; " + d.hintByHand
	return append(steps,
		step{req: framing.Request{Op: framing.OpAuth, User: d.user, Server: d.server, Password: d.password}, want: true,
			wrong: func(d *doctorRun) finding {
				return finding{ID: findRejectsRightPassword, Severity: problem,
					What: fmt.Sprintf("it answered no to the password given for %s", who), Fix: checkFix}
			}},
		step{req: framing.Request{Op: framing.OpAuth, User: d.user, Server: d.server, Password: d.wrong}, want: false,
			wrong: func(d *doctorRun) finding {
				return finding{ID: findAcceptsWrongPassword, Severity: problem,
					What: fmt.Sprintf("it answered yes to a wrong (random) password for %s", who),
					Fix:  "compare the whole password, byte for byte (a password may hold ':' and any UTF-8), and answer yes only when it matches"}
			}},
		step{req: framing.Request{Op: framing.OpIsUser, User: d.user, Server: d.server}, want: true,
			wrong: func(d *doctorRun) finding {
				return finding{ID: findDeniesUser, Severity: problem,
					What: fmt.Sprintf("it answered no to isuser %s, whose password it accepts or should", who), Fix: checkFix}
			}},
	)
}

// rest asks the later questions of a helper that answered its first, and
// returns every exchange, the first included.
func (d *doctorRun) rest(ctx context.Context, h *doctorHelper, first *exchange) []*exchange {
	exs := []*exchange{first}
	if first.read.yes {
		d.rep.add(d.claimsAbsent())
	}
	if d.exitedAfter(h, exs) {
		return exs
	}
	var slowest time.Duration
	for _, s := range d.steps() {
		if ctx.Err() != nil {
			break
		}
		ex := h.ask(ctx, s.req, time.Now().Add(d.timeout+d.extT), d.quiet)
		exs = append(exs, ex)
		if !ex.read.answered {
			d.noLaterAnswer(h, ex, len(exs)-1, !anySecret(exs))
			break
		}
		slowest = max(slowest, ex.took)
		if ex.read.yes != s.want {
			if s.wrong != nil {
				d.rep.add(s.wrong(d))
			} else if ex.read.yes {
				d.rep.add(d.claimsAbsent())
			}
		}
		if d.exitedAfter(h, exs) {
			break
		}
	}
	if slowest > 0 {
		d.rep.Slowest = textDuration(slowest)
	}
	fix := fmt.Sprintf("raise --timeout to %s or more, but keep it below the XMPP server's own (Prosody: external_auth_timeout, 5s; ejabberd: 30s), "+
		"or make the check faster", textDuration(2*slowest))
	switch {
	case slowest > d.timeout:
		d.rep.add(finding{ID: findSlowAnswer, Severity: problem, Fix: fix,
			What: fmt.Sprintf("it took %s to answer; serve waits --timeout, %s, then fails the request and replaces the helper", textDuration(slowest), textDuration(d.timeout))})
	case slowest > d.timeout/2:
		d.rep.add(finding{ID: findSlowAnswer, Severity: warning, Fix: fix,
			What: fmt.Sprintf("it took %s to answer, more than half of --timeout (%s): under load it may not make it", textDuration(slowest), textDuration(d.timeout))})
	}
	return exs
}

func (d *doctorRun) claimsAbsent() finding {
	return finding{ID: findClaimsAbsentUser, Severity: warning,
		What: fmt.Sprintf("it says %s@%s, a user that cannot exist, exists (isuser answered 1)", doctorUser, doctorServer),
		Fix:  "answer isuser from the user store: XMPP servers ask it to decide whether a user exists (to deliver messages, to register)"}
}

// exitedAfter reports, and says, whether the helper exited after its last
// answer.
func (d *doctorRun) exitedAfter(h *doctorHelper, exs []*exchange) bool {
	last := exs[len(exs)-1]
	select {
	case <-h.proc.Done():
	default:
		if !last.ended {
			return false
		}
	}
	st := h.exited()
	how := "closed its output"
	if st != nil {
		how = pool.ExitCause(st)
	}
	d.rep.add(finding{ID: findExitsAfterAnswer, Severity: problem, Stderr: h.stderr.tail(),
		What: fmt.Sprintf("it %s after answering %s: serve would start a new one for every request, and fail those that come meanwhile", how, plural(len(exs), "request")),
		Fix:  "answer requests in a loop until end of input (stdin closed), and exit only then"})
	return true
}

// noLaterAnswer says why a later request got no answer, after answered
// others; its output is shown only when no password was sent before it.
func (d *doctorRun) noLaterAnswer(h *doctorHelper, ex *exchange, answered int, show bool) {
	stderr := h.stderr.tail()
	switch {
	case ex.ended:
		st := h.exited()
		how := "closed its output"
		if st != nil {
			how = pool.ExitCause(st)
		}
		d.rep.add(finding{ID: findExitsAfterAnswer, Severity: problem, Stderr: stderr,
			What: fmt.Sprintf("it %s after answering %s, without answering %s", how, plural(answered, "request"), ex.req),
			Fix:  "answer requests in a loop until end of input (stdin closed), and exit only then; its stderr may say why it stopped"})
	case len(ex.out) == 0:
		d.rep.add(finding{ID: findNoAnswer, Severity: problem, Stderr: stderr,
			What: fmt.Sprintf("it answered %s but not %s, within %s", plural(answered, "request"), ex.req, textDuration(d.timeout+d.extT)),
			Fix:  d.answerRule() + "; it must not wait for anything after an answer but the next request"})
	default:
		what := fmt.Sprintf("its output to %s is no answer", ex.req)
		if show {
			what += ": " + quoteOutput(ex.out)
		}
		d.rep.add(finding{ID: findJunk, Severity: problem, Stderr: stderr, What: what, Fix: d.answerRule()})
	}
}

func (d *doctorRun) echoFinding() finding {
	return finding{ID: findEcho, Severity: problem,
		What: "it echoes each request back on stdout before its answer (the echo of an auth request holds its password): " +
			"serve reads the echo as junk, and replaces the helper",
		Fix: "do not print the request; if the helper turns terminal echo on (stty echo or stty sane, a prompt read through readline such as " +
			"Python's input()), read stdin directly instead; write diagnostics to stderr"}
}

// output judges everything besides the answers that the helper wrote.
func (d *doctorRun) output(exs []*exchange) {
	var quote string // the first piece of extra output that may be shown
	later, strays, between := false, 0, false
	for i, ex := range exs {
		if !ex.read.answered {
			continue // said already: no answer, or junk
		}
		if ex.read.echo {
			d.rep.add(d.echoFinding())
		}
		strays += ex.read.extraAnswers
		if len(ex.idle) > 0 {
			idle := readOutput(ex.protocol, ex.idle, nil)
			if idle.answered {
				strays += 1 + idle.extraAnswers
			}
			if len(idle.extra) > 0 {
				between = true
			}
		}
		if len(ex.read.extra) > 0 {
			if i > 0 {
				later = true
			}
			if quote == "" && !ex.secret && !anySecret(exs[:i]) {
				quote = quoteOutput(ex.read.extra[0])
			}
		}
	}
	if strays > 0 {
		d.rep.add(finding{ID: findStrayAnswers, Severity: problem,
			What: fmt.Sprintf("it writes answers nobody asked for (%d more than it was asked): one that arrives while a request is out is taken for "+
				"that request's answer, a yes that may let a wrong password in", strays),
			Fix: "write exactly one answer per request, after reading it, and nothing between requests (no timer, no second thread writing to stdout)"})
	}
	first := exs[0].read
	switch {
	case first.extraBefore && !later && !between:
		d.rep.add(finding{ID: findBanner, Severity: problem,
			What: fmt.Sprintf("it writes %s before its first answer (a banner, a greeting): serve reads it as the answer to the first request, "+
				"sees junk, and replaces the helper, again and again", orSomething(quote)),
			Fix: "write nothing to stdout but answers: remove the banner, or write it to stderr, which authpool logs"})
	case len(first.extra) > 0 || later || between:
		d.rep.add(finding{ID: findExtraOutput, Severity: problem,
			What: fmt.Sprintf("it writes %s besides its answers (a warning, a debug print?): serve reads it as junk and replaces the helper", orSomething(quote)),
			Fix: "write nothing to stdout but answers: send warnings and debug output to stderr (PHP: display_errors=stderr; Python: " +
				"print(..., file=sys.stderr); sh: >&2), which authpool logs with passwords blanked"})
	}
}

func orSomething(quote string) string {
	if quote == "" {
		return "output that is not an answer"
	}
	return quote
}

// anySecret reports whether any of exs carried a password: output after
// that is never shown, since it might hold it.
func anySecret(exs []*exchange) bool {
	for _, ex := range exs {
		if ex.secret {
			return true
		}
	}
	return false
}

// stop stops the helper as serve does and judges how it went.
func (d *doctorRun) stop(h *doctorHelper) {
	st := h.stop(d.grace)
	if st.ignoredTerm {
		d.rep.add(finding{ID: findIgnoresSIGTERM, Severity: warning,
			What: fmt.Sprintf("it did not exit within %s of SIGTERM: serve then kills it with SIGKILL, so every replacement and every shutdown waits that long, "+
				"and it cannot clean up", textDuration(d.grace)),
			Fix: "let SIGTERM end it: do not ignore it, and exit from a handler that catches it"})
	}
	if len(st.left) > 0 {
		var names []string
		for _, p := range st.left {
			names = append(names, fmt.Sprintf("%d (%s)", p.Pid, p.Comm))
		}
		d.rep.add(finding{ID: findLeavesProcesses, Severity: warning,
			What: fmt.Sprintf("it leaves processes behind when it is stopped: %s, outside its process group; serve kills them, "+
				"other callers do not (doctor killed them)", strings.Join(names, ", ")),
			Fix: "end the processes it starts when it exits, and do not detach them (setsid, double fork, nohup ... &)"})
	}
}

// passed says what went right, for a person reading the report.
func (d *doctorRun) passed(exs []*exchange) {
	r := d.rep
	if !r.has(findSlowStart) && r.FirstAnswer > 0 {
		r.pass("starts and answers its first request in %s (serve gives a new helper %s)", r.FirstAnswer, textDuration(d.limit))
	}
	if !r.has(findSlowAnswer) && r.Slowest > 0 {
		r.pass("answers in %s at most (--timeout %s)", r.Slowest, textDuration(d.timeout))
	}
	clean := true
	for _, id := range []findingID{findEcho, findBanner, findExtraOutput, findStrayAnswers, findJunk} {
		clean = clean && !r.has(id)
	}
	if clean {
		r.pass("writes nothing on stdout but one answer to each request")
	}
	if len(exs) >= 3 && !r.has(findAcceptsAnyPassword) && !r.has(findClaimsAbsentUser) {
		r.pass("says no to a user that cannot exist, and to a password nobody has")
	}
	if len(exs) >= 3 && !r.has(findPasswordOnStderr) {
		r.pass("does not write the password it is sent to stderr")
	}
	if d.user != "" && len(exs) == len(d.steps())+1 && !r.has(findRejectsRightPassword) && !r.has(findAcceptsWrongPassword) && !r.has(findDeniesUser) {
		r.pass("%s@%s: yes to the password given, no to a wrong one, yes to isuser", d.user, d.server)
	}
	if !r.has(findIgnoresSIGTERM) && !r.has(findExitsAfterAnswer) {
		r.pass("exits on SIGTERM")
	}
	if !r.has(findLeavesProcesses) {
		r.pass("leaves no process behind")
	}
}
