package bench

import (
	"fmt"
	"strings"
)

// Outcome is what became of one request. The order is the report's: the
// right answers, then the wrong ones (false accepts first: someone got
// in), then the failures.
type Outcome uint8

const (
	OutcomeOK          Outcome = iota // answered yes, as expected (or unchecked)
	OutcomeRejected                   // answered no, as expected (or unchecked)
	OutcomeFalseAccept                // answered yes where no was expected
	OutcomeFalseReject                // answered no where yes was expected
	OutcomeTimeout                    // no answer in time
	OutcomeUnavailable                // no helper could answer (exited, closed, untrusted, HTTP 502/503)
	OutcomeOverloaded                 // refused for load (queue full, HTTP 429)
	OutcomeConnection                 // the connection to the target failed
	OutcomeOther                      // any other failure: protocol, bad answer, bad request, canceled...
	numOutcomes
)

var outcomeNames = [numOutcomes]string{"ok", "rejected", "false_accept", "false_reject", "timeout", "unavailable", "overloaded", "connection", "other"}

// String is the outcome's name as reports, records and ParseOutcome
// spell it: "ok", "false_accept", "timeout"...
func (o Outcome) String() string {
	if o < numOutcomes {
		return outcomeNames[o]
	}
	return fmt.Sprintf("Outcome(%d)", uint8(o))
}

// ParseOutcome is the Outcome named s.
func ParseOutcome(s string) (Outcome, bool) {
	for i, n := range outcomeNames {
		if n == s {
			return Outcome(i), true
		}
	}
	return 0, false
}

// Answered reports whether the target answered (rightly or wrongly).
func (o Outcome) Answered() bool { return o <= OutcomeFalseReject }

// Wrong reports whether the answer was the wrong one.
func (o Outcome) Wrong() bool { return o == OutcomeFalseAccept || o == OutcomeFalseReject }

// outcomeOf classifies one request's result; kind is ErrorKind(err) for a
// failure.
func outcomeOf(it Item, yes bool, err error) (o Outcome, kind string) {
	if err != nil {
		kind = ErrorKind(err)
		return errorOutcome(kind), kind
	}
	switch {
	case it.Expect == ExpectNo && yes:
		return OutcomeFalseAccept, ""
	case it.Expect == ExpectYes && !yes:
		return OutcomeFalseReject, ""
	case yes:
		return OutcomeOK, ""
	}
	return OutcomeRejected, ""
}

// errorOutcome is the outcome of a failure of kind (ErrorKind's names).
func errorOutcome(kind string) Outcome {
	switch kind {
	case "timeout", "http_504":
		return OutcomeTimeout
	case "unavailable", "exited", "closed", "untrusted", "http_502", "http_503":
		return OutcomeUnavailable
	case "overloaded", "http_429":
		return OutcomeOverloaded
	case "connection":
		return OutcomeConnection
	}
	return OutcomeOther
}

// counts are requests by outcome.
type counts [numOutcomes]int64

func (c *counts) add(o *counts) {
	for i := range c {
		c[i] += o[i]
	}
}

func (c *counts) total() int64 {
	var n int64
	for _, v := range c {
		n += v
	}
	return n
}

func (c *counts) answered() int64 {
	return c[OutcomeOK] + c[OutcomeRejected] + c[OutcomeFalseAccept] + c[OutcomeFalseReject]
}

func (c *counts) errors() int64 { return c.total() - c.answered() }

// Outcomes is the report's count of requests by outcome.
type Outcomes struct {
	OK           int64 `json:"ok,omitempty"`
	Rejected     int64 `json:"rejected,omitempty"`
	FalseAccepts int64 `json:"false_accepts,omitempty"`
	FalseRejects int64 `json:"false_rejects,omitempty"`
	Timeout      int64 `json:"timeout,omitempty"`
	Unavailable  int64 `json:"unavailable,omitempty"`
	Overloaded   int64 `json:"overloaded,omitempty"`
	Connection   int64 `json:"connection,omitempty"`
	Other        int64 `json:"other,omitempty"`
}

func (c *counts) outcomes() Outcomes {
	return Outcomes{
		OK: c[OutcomeOK], Rejected: c[OutcomeRejected],
		FalseAccepts: c[OutcomeFalseAccept], FalseRejects: c[OutcomeFalseReject],
		Timeout: c[OutcomeTimeout], Unavailable: c[OutcomeUnavailable], Overloaded: c[OutcomeOverloaded],
		Connection: c[OutcomeConnection], Other: c[OutcomeOther],
	}
}

func (o Outcomes) counts() counts {
	return counts{o.OK, o.Rejected, o.FalseAccepts, o.FalseRejects, o.Timeout, o.Unavailable, o.Overloaded, o.Connection, o.Other}
}

// String lists the outcomes in the report's order, wrong ones as one
// group: "ok 10, rejected 5, wrong 0, timeout 0, ...".
func (o Outcomes) String() string {
	c := o.counts()
	parts := []string{
		fmt.Sprintf("ok %d", c[OutcomeOK]),
		fmt.Sprintf("rejected %d", c[OutcomeRejected]),
	}
	if w := c[OutcomeFalseAccept] + c[OutcomeFalseReject]; w > 0 {
		parts = append(parts, fmt.Sprintf("WRONG %d (%d false accepts, %d false rejects)", w, c[OutcomeFalseAccept], c[OutcomeFalseReject]))
	} else {
		parts = append(parts, "wrong 0")
	}
	for o := OutcomeTimeout; o < numOutcomes; o++ {
		parts = append(parts, fmt.Sprintf("%s %d", o, c[o]))
	}
	return strings.Join(parts, ", ")
}
