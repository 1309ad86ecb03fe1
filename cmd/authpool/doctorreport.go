package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/authpool/authpool/framing"
	"github.com/authpool/authpool/ptyproc"
)

// severity says whether a finding makes a helper unfit to serve.
type severity string

const (
	// problem: serve cannot make the helper work, or it answers wrong,
	// or it leaks passwords.
	problem severity = "problem"
	// warning: serve copes, at a cost the finding names.
	warning severity = "warning"
)

// findingID names what is wrong, in stable snake_case: the JSON report's
// "id", and what tests assert.
type findingID string

// The findings. A helper gets at most one of each.
const (
	// It cannot be executed (pool.StartProblem's values).
	findNotFound      findingID = "not_found"
	findNotExecutable findingID = "not_executable"
	findBadShebang    findingID = "bad_shebang"
	findNoInterpreter findingID = "no_interpreter"
	findCannotStart   findingID = "cannot_start"
	// It starts, but its first request gets no answer.
	findExitsEarly    findingID = "exits_early"
	findNoAnswer      findingID = "no_answer"
	findNoLineEnd     findingID = "no_line_end"
	findJunk          findingID = "junk"
	findUnflushed     findingID = "unflushed"
	findWrongProtocol findingID = "wrong_protocol"
	// It answers, with more than its answers.
	findEcho         findingID = "echo"
	findBanner       findingID = "banner"
	findExtraOutput  findingID = "extra_output"
	findStrayAnswers findingID = "stray_answers"
	// Time.
	findSlowStart  findingID = "slow_start"
	findSlowAnswer findingID = "slow_answer"
	// Secrets, lifetime, processes.
	findPasswordOnStderr findingID = "password_on_stderr"
	findExitsAfterAnswer findingID = "exits_after_answer"
	findIgnoresSIGTERM   findingID = "ignores_sigterm"
	findLeavesProcesses  findingID = "leaves_processes"
	// Wrong answers.
	findAcceptsAnyPassword   findingID = "accepts_any_password"
	findClaimsAbsentUser     findingID = "claims_absent_user"
	findRejectsRightPassword findingID = "rejects_right_password"
	findAcceptsWrongPassword findingID = "accepts_wrong_password"
	findDeniesUser           findingID = "denies_user"
)

// finding is one thing wrong with a helper, in plain words, and how to
// fix it.
type finding struct {
	ID       findingID `json:"id"`
	Severity severity  `json:"severity"`
	What     string    `json:"what"`
	Fix      string    `json:"fix"`
	Stderr   []string  `json:"stderr,omitempty"` // its stderr, passwords blanked, when that says why
}

// doctorReport is what doctor found.
type doctorReport struct {
	Helper    string            `json:"helper"` // the program, never its arguments (they may hold secrets)
	Protocol  framing.Protocol  `json:"protocol"`
	Transport ptyproc.Transport `json:"transport"`
	Timeout   textDuration      `json:"timeout"`
	Fit       bool              `json:"fit"`
	Findings  []finding         `json:"findings"`
	// Passed says, in words, each check the helper passed.
	Passed      []string     `json:"passed"`
	FirstAnswer textDuration `json:"first_answer,omitempty"`   // spawn to the end of the first answer
	Slowest     textDuration `json:"slowest_answer,omitempty"` // of the later ones
}

// textDuration is a duration that JSON writes as Go does ("1.5s"), as the
// logs do.
type textDuration time.Duration

func (d textDuration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

func (d textDuration) String() string { return roundDuration(time.Duration(d)).String() }

func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(time.Millisecond)
	}
	return d.Round(10 * time.Microsecond)
}

func (r *doctorReport) add(f finding) {
	for _, g := range r.Findings {
		if g.ID == f.ID {
			return // one of each: the first says it
		}
	}
	r.Findings = append(r.Findings, f)
}

func (r *doctorReport) has(id findingID) bool {
	for _, f := range r.Findings {
		if f.ID == id {
			return true
		}
	}
	return false
}

func (r *doctorReport) pass(format string, a ...any) {
	r.Passed = append(r.Passed, fmt.Sprintf(format, a...))
}

// problems counts the findings that make the helper unfit.
func (r *doctorReport) problems() (problems, warnings int) {
	for _, f := range r.Findings {
		if f.Severity == problem {
			problems++
		} else {
			warnings++
		}
	}
	return problems, warnings
}

// writeText writes the report for a person.
func (r *doctorReport) writeText(w io.Writer) {
	fmt.Fprintf(w, "authpool doctor: %s (--protocol %s, --transport %s, --timeout %s)\n", r.Helper, r.Protocol, r.Transport, r.Timeout)
	for _, f := range r.Findings {
		fmt.Fprintf(w, "\n%s %s: %s\n", strings.ToUpper(string(f.Severity)), f.ID, f.What)
		if len(f.Stderr) > 0 {
			fmt.Fprintln(w, "  its stderr:")
			for _, l := range f.Stderr {
				// Quoted: nothing a helper writes can pass for doctor's
				// own lines, or reach the terminal as a control sequence.
				fmt.Fprintf(w, "    %s\n", strconv.Quote(l))
			}
		}
		fmt.Fprintf(w, "  fix: %s\n", f.Fix)
	}
	if len(r.Passed) > 0 {
		fmt.Fprintln(w)
		for _, p := range r.Passed {
			fmt.Fprintf(w, "ok: %s\n", p)
		}
	}
	p, warn := r.problems()
	fmt.Fprintln(w)
	switch {
	case p > 0 && warn > 0:
		fmt.Fprintf(w, "Not fit to serve: %s, %s.\n", plural(p, "problem"), plural(warn, "warning"))
	case p > 0:
		fmt.Fprintf(w, "Not fit to serve: %s.\n", plural(p, "problem"))
	case warn > 0:
		fmt.Fprintf(w, "Fit to serve, with %s.\n", plural(warn, "warning"))
	default:
		fmt.Fprintln(w, "Fit to serve.")
	}
}

func (r *doctorReport) writeJSON(w io.Writer) error {
	if r.Findings == nil {
		r.Findings = []finding{}
	}
	if r.Passed == nil {
		r.Passed = []string{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
