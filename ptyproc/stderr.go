package ptyproc

import (
	"bufio"
	"errors"
	"io"
	"os"
	"time"
)

// copyStderr logs the helper's stderr line by line, cutting long lines and
// bounding the rate, until the pipe ends or, after the helper has exited,
// StderrDrain has passed.
func (p *Process) copyStderr(r *os.File, c Config) {
	defer close(p.stderrEnd)
	defer r.Close()
	go func() {
		<-p.done
		// A grandchild that left the process group may hold the pipe open;
		// the deadline ends the read instead of waiting for it.
		r.SetReadDeadline(time.Now().Add(c.StderrDrain))
	}()
	log := c.Logger.With("pid", p.pid)
	br := bufio.NewReaderSize(r, c.StderrLineMax)
	var (
		windowStart time.Time
		inWindow    int
		suppressed  int
	)
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// Log the first StderrLineMax bytes, then skip to the line end.
			line = append([]byte(nil), line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n')
			}
			line = append(line, "..."...)
		}
		if len(line) > 0 {
			now := time.Now()
			if now.Sub(windowStart) >= time.Second {
				if suppressed > 0 {
					log.Warn("helper stderr lines suppressed", "lines", suppressed)
				}
				windowStart, inWindow, suppressed = now, 0, 0
			}
			if inWindow < c.StderrLinesPerSecond {
				inWindow++
				line = trimEOL(line)
				if c.Redact != nil {
					line = c.Redact(line)
				}
				log.Warn("helper stderr", "line", string(line))
			} else {
				suppressed++
			}
		}
		if err != nil {
			if suppressed > 0 {
				log.Warn("helper stderr lines suppressed", "lines", suppressed)
			}
			if !errors.Is(err, io.EOF) && !errors.Is(err, os.ErrDeadlineExceeded) {
				log.Debug("helper stderr read failed", "err", err)
			}
			return
		}
	}
}

func trimEOL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
