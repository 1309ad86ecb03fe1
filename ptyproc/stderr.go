package ptyproc

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"os"
	"time"
	"unicode/utf8"
)

// stderrLineRead is the longest stderr line that is read whole, redacted
// and logged (cut to StderrLineMax). A longer line is not logged at all,
// only its length: a line cannot be redacted before it is whole, and a cut
// made before redaction could log the start of a password.
const stderrLineRead = 64 << 10

// copyStderr logs the helper's stderr line by line, each redacted and then
// cut, bounding the rate, until the pipe ends or, after the helper has
// exited, StderrDrain has passed. Every buffer that held a line is wiped.
func (p *Process) copyStderr(r *os.File, c Config) {
	defer close(p.stderrEnd)
	defer p.secrets.close()
	defer r.Close()
	go func() {
		<-p.done
		// A grandchild that left the process group may hold the pipe open;
		// the deadline ends the read instead of waiting for it.
		r.SetReadDeadline(time.Now().Add(c.StderrDrain))
	}()
	l := stderrLogger{
		log:   c.Logger.With("pid", p.pid),
		max:   c.StderrLineMax,
		limit: c.StderrLinesPerSecond,
		red:   redactor{w: p.secrets},
	}
	defer l.wipe()
	chunk := make([]byte, 4096)
	defer clear(chunk)
	for {
		n, err := r.Read(chunk)
		data := chunk[:n]
		for len(data) > 0 {
			i := bytes.IndexByte(data, '\n')
			if i < 0 {
				l.add(data)
				break
			}
			l.add(data[:i])
			l.end()
			data = data[i+1:]
		}
		clear(chunk[:n])
		if err != nil {
			l.end() // a last line without its line end
			l.flushSuppressed()
			if !errors.Is(err, io.EOF) && !errors.Is(err, os.ErrDeadlineExceeded) {
				l.log.Debug("helper stderr read failed", "err", err)
			}
			return
		}
	}
}

// StderrMessage is the message of the log record that carries one line a
// helper wrote to stderr, already redacted and cut, in its "line" attribute.
const StderrMessage = "helper stderr"

// stderrLogger assembles, redacts, cuts and logs the lines of one helper's
// stderr, at most limit a second.
type stderrLogger struct {
	log   *slog.Logger
	max   int
	limit int
	red   redactor

	line     []byte // the line so far
	overflow int    // > 0: the line is over stderrLineRead, this long so far
	out      []byte // the redacted line

	windowStart time.Time
	inWindow    int
	suppressed  int
}

func (l *stderrLogger) add(b []byte) {
	if l.overflow > 0 {
		l.overflow += len(b)
		return
	}
	if len(l.line)+len(b) > stderrLineRead {
		l.overflow = len(l.line) + len(b)
		clear(l.line)
		l.line = l.line[:0]
		return
	}
	if len(l.line)+len(b) > cap(l.line) {
		// Grow by hand, so the old array is wiped rather than left to the
		// garbage collector with the line in it.
		grown := make([]byte, len(l.line), min(stderrLineRead, max(2*cap(l.line), len(l.line)+len(b), 256)))
		copy(grown, l.line)
		clear(l.line)
		l.line = grown
	}
	l.line = append(l.line, b...)
}

// end logs the line assembled so far, if there is one.
func (l *stderrLogger) end() {
	if len(l.line) == 0 && l.overflow == 0 {
		return
	}
	defer func() {
		clear(l.line)
		l.line, l.overflow = l.line[:0], 0
	}()
	now := time.Now()
	if now.Sub(l.windowStart) >= time.Second {
		l.flushSuppressed()
		l.windowStart, l.inWindow = now, 0
	}
	if l.inWindow >= l.limit {
		l.suppressed++
		return
	}
	l.inWindow++
	if l.overflow > 0 {
		l.log.Warn("helper stderr line too long to redact, not logged", "bytes", l.overflow)
		return
	}
	line := l.line
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	// Redact first, then cut: a cut first could keep the start of a
	// password and lose what makes it recognisable.
	var ok bool
	if l.out, ok = l.red.redact(l.out[:0], line); !ok {
		l.log.Warn("helper stderr line too costly to redact, not logged", "bytes", len(line))
		return
	}
	out := l.out
	if len(out) > l.max {
		cut := l.max
		for cut > 0 && cut > l.max-utf8.UTFMax && !utf8.RuneStart(out[cut]) {
			cut--
		}
		out = append(out[:cut:cut], "..."...)
	}
	l.log.Warn(StderrMessage, "line", string(out))
	clear(l.out)
}

func (l *stderrLogger) flushSuppressed() {
	if l.suppressed > 0 {
		l.log.Warn("helper stderr lines suppressed", "lines", l.suppressed)
		l.suppressed = 0
	}
}

func (l *stderrLogger) wipe() {
	clear(l.line[:cap(l.line)])
	clear(l.out[:cap(l.out)])
	l.red.dec.wipe()
}
