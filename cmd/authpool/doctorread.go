package main

import (
	"bytes"
	"strconv"

	"github.com/authpool/authpool/framing"
)

// reading is what doctor makes of the output a helper wrote in answer to
// one request: the answer, if there is one, and whatever else came with it.
type reading struct {
	answered     bool
	yes          bool
	echo         bool     // the request came back
	extra        [][]byte // output that is neither the answer nor the echo, in order (lines, for generic)
	extraBefore  bool     // some of it came before the answer
	extraAnswers int      // answers after the first
	noLineEnd    bool     // generic: a lone 1 or 0 without its line end
	otherFraming bool     // no answer, but the other protocol's answer is there
}

// readOutput reads out, the output that followed the request wire (as
// sent, in protocol p). It never keeps a reference to wire.
func readOutput(p framing.Protocol, out, wire []byte) reading {
	if p == framing.Ejabberd {
		return readFrames(out, wire)
	}
	return readLines(out, wire)
}

// readLines reads generic output: one answer line, 1 or 0, with \n or \r\n.
func readLines(out, wire []byte) reading {
	var r reading
	req := bytes.TrimSuffix(wire, []byte("\n"))
	rest := out
	for len(rest) > 0 {
		line, after, complete := bytes.Cut(rest, []byte("\n"))
		rest = after
		l := bytes.TrimSuffix(line, []byte("\r"))
		switch {
		case !complete && !r.answered && isAnswerLine(l):
			r.noLineEnd = true
		case !complete:
			r.add(line)
		case isAnswerLine(l) && !r.answered:
			r.answered, r.yes = true, l[0] == '1'
		case isAnswerLine(l):
			r.extraAnswers++
		case len(req) > 0 && bytes.Contains(l, req):
			r.echo = true
		default: // a blank line too: output besides the answer
			r.add(line)
		}
	}
	if !r.answered && isFrame(out) {
		r.otherFraming = true
	}
	return r
}

// readFrames reads ejabberd output: one 4-byte answer frame.
func readFrames(out, wire []byte) reading {
	var r reading
	i := frameIndex(out)
	if i < 0 {
		rest := out
		if len(wire) > 0 && bytes.Contains(rest, wire) {
			r.echo = true
			rest = bytes.Replace(rest, wire, nil, 1)
		}
		if len(rest) > 0 {
			r.add(rest)
		}
		r.otherFraming = len(out) > 0 && (bytes.HasPrefix(out, []byte("0\n")) || bytes.HasPrefix(out, []byte("1\n")) ||
			bytes.HasPrefix(out, []byte("0\r\n")) || bytes.HasPrefix(out, []byte("1\r\n")))
		return r
	}
	r.answered, r.yes = true, out[i+3] == 1
	before, after := out[:i], out[i+4:]
	if len(wire) > 0 && bytes.Contains(before, wire) {
		r.echo = true
		before = bytes.Replace(before, wire, nil, 1)
	}
	if len(before) > 0 {
		r.add(before)
		r.extraBefore = true
	}
	for len(after) > 0 {
		if isFrame(after) {
			r.extraAnswers++
			after = after[4:]
			continue
		}
		r.add(after)
		break
	}
	return r
}

func (r *reading) add(b []byte) {
	if !r.answered {
		r.extraBefore = true
	}
	r.extra = append(r.extra, b)
}

// clean reports whether the request got its answer and nothing else.
func (r reading) clean() bool {
	return r.answered && !r.echo && len(r.extra) == 0 && r.extraAnswers == 0
}

func isAnswerLine(l []byte) bool { return len(l) == 1 && (l[0] == '0' || l[0] == '1') }

// isFrame reports whether b starts with an ejabberd answer frame.
func isFrame(b []byte) bool {
	return len(b) >= 4 && b[0] == 0 && b[1] == 2 && b[2] == 0 && b[3] <= 1
}

func frameIndex(b []byte) int {
	for i := 0; i+4 <= len(b); i++ {
		if isFrame(b[i:]) {
			return i
		}
	}
	return -1
}

// quoteOutput shows a piece of a helper's output in a report: quoted, so
// that nothing it wrote can pass for doctor's own words, and short.
func quoteOutput(b []byte) string {
	const max = 60
	if len(b) > max {
		return strconv.Quote(string(b[:max])) + "..."
	}
	return strconv.Quote(string(b))
}
