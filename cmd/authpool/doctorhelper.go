package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/authpool/authpool/framing"
	"github.com/authpool/authpool/pool"
	"github.com/authpool/authpool/ptyproc"
)

// doctorHelper is one helper that doctor started, as serve would start it
// (ptyproc, with the pool configuration's command, environment, directory
// and transport), and talks to one request at a time.
type doctorHelper struct {
	proc     *ptyproc.Process
	protocol framing.Protocol
	started  time.Time
	stderr   *stderrWatch
	canary   string // never given to Redact: stderrWatch looks for it
	rbuf     []byte
	idle     []byte // output that arrived while no request was out
}

// maxOutput bounds what doctor keeps of the output to one request.
const maxOutput = 64 << 10

func startDoctorHelper(cfg *pool.Config, proto framing.Protocol, transport ptyproc.Transport, canary string) (*doctorHelper, error) {
	w := &stderrWatch{canary: canary}
	proc, err := ptyproc.Start(ptyproc.Config{
		Args:      cfg.Command,
		Env:       cfg.Env,
		Dir:       cfg.Dir,
		Transport: transport,
		Logger:    slog.New(w),
		// Whole lines, and all of them: a password is looked for in each.
		StderrLineMax:        stderrLineLimit,
		StderrLinesPerSecond: 1 << 20,
	})
	if err != nil {
		return nil, err
	}
	return &doctorHelper{proc: proc, protocol: proto, started: time.Now(), stderr: w, canary: canary, rbuf: make([]byte, 4096)}, nil
}

// exchange is one request and what came back.
type exchange struct {
	req      framing.Request
	protocol framing.Protocol // the one it was sent in
	secret   bool             // it carries a password: its output is never shown
	sent     time.Time
	out      []byte
	took     time.Duration // from the request to the end of its answer
	ended    bool          // the helper's output ended: it exited
	idle     []byte        // output that arrived before the request, after the previous answer
	read     reading
	quietAt  time.Time // once answered: the end of the wait for more output
	wire     []byte    // the request as sent, until finish wipes it
}

// ask sends req and reads what comes back until deadline, or until quiet
// has passed after an answer. ctx ending cuts it short.
func (h *doctorHelper) ask(ctx context.Context, req framing.Request, deadline time.Time, quiet time.Duration) *exchange {
	ex := h.send(req)
	h.await(ctx, ex, deadline, quiet)
	ex.finish()
	return ex
}

// send writes req, first collecting any output that arrived since the last
// exchange.
func (h *doctorHelper) send(req framing.Request) *exchange {
	ex := &exchange{req: req, protocol: h.protocol, secret: req.Op.HasPassword()}
	for len(h.idle) < maxOutput {
		n, err := h.proc.TryRead(h.rbuf)
		if n == 0 || err != nil {
			break
		}
		h.idle = append(h.idle, h.rbuf[:n]...)
	}
	ex.idle, h.idle = h.idle, nil
	if req.Password != "" && req.Password != h.canary {
		h.proc.Redact(req.Password)
	}
	wire, err := h.protocol.AppendRequest(nil, req)
	ex.sent = time.Now()
	if err == nil {
		// A failed write is not an end: the read that follows sees the
		// end of output if the helper is gone, or waits out the deadline.
		h.proc.SetWriteDeadline(ex.sent.Add(time.Second))
		h.proc.Write(wire)
	}
	ex.wire = wire
	return ex
}

// finish reads what the exchange got, and wipes the request it kept to
// tell an echo, password and all.
func (ex *exchange) finish() {
	ex.read = readOutput(ex.protocol, ex.out, ex.wire)
	clear(ex.wire)
	ex.wire = nil
}

// await reads ex's output until deadline, or quiet after its answer, or
// the end of the helper's output.
func (h *doctorHelper) await(ctx context.Context, ex *exchange, deadline time.Time, quiet time.Duration) {
	stop := context.AfterFunc(ctx, func() { h.proc.SetReadDeadline(time.Now()) })
	defer stop()
	for ctx.Err() == nil && !ex.ended {
		until := deadline
		if !ex.quietAt.IsZero() {
			until = ex.quietAt
		}
		if !time.Now().Before(until) {
			return
		}
		h.proc.SetReadDeadline(until)
		n, err := h.proc.Read(h.rbuf)
		if n > 0 {
			ex.out = append(ex.out, h.rbuf[:min(n, maxOutput-len(ex.out))]...)
			if ex.quietAt.IsZero() {
				if r := readOutput(h.protocol, ex.out, nil); r.answered {
					ex.took = time.Since(ex.sent)
					ex.quietAt = time.Now().Add(quiet)
				}
			}
		}
		switch {
		case err == nil, errors.Is(err, os.ErrDeadlineExceeded):
		default: // io.EOF: it exited, and everything holding its output with it
			ex.ended = true
		}
	}
}

// exited waits, bounded, for the helper to be reaped after its output
// ended, and returns how it ended (nil if it has not).
func (h *doctorHelper) exited() *os.ProcessState {
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case <-h.proc.Done():
	case <-t.C:
	}
	return h.proc.ExitState()
}

// stopped is how a helper took being stopped the way serve stops one.
type stopped struct {
	ignoredTerm bool
	left        []leftProcess // processes of its own that outlived it
}

// stop stops the helper as serve does, SIGTERM to its process group and
// SIGKILL after grace, and then kills whatever it left behind outside its
// group, saying what that was.
func (h *doctorHelper) stop(grace time.Duration) stopped {
	var s stopped
	tree := descendants(h.proc.Pid())
	if h.proc.Signal(syscall.SIGTERM) == nil {
		t := time.NewTimer(grace)
		select {
		case <-h.proc.Done():
		case <-t.C:
			s.ignoredTerm = true
		}
		t.Stop()
	}
	h.proc.Close()
	s.left = survivors(tree)
	return s
}

// close kills the helper, and whatever it left outside its process group.
func (h *doctorHelper) close() {
	tree := descendants(h.proc.Pid())
	h.proc.Close()
	survivors(tree)
}

// stderrLineLimit is the longest stderr line doctor reads whole.
const stderrLineLimit = 64 << 10

// stderrWatch is the slog.Handler a doctor's helper logs to: it keeps the
// first and last stderr lines, redacted by ptyproc of every password but
// the canary, and looks for the canary, which no line it keeps holds.
type stderrWatch struct {
	canary string

	mu        sync.Mutex
	first     []string
	last      []string
	lines     int
	sawCanary bool
}

// stderrKeep is how many of the first, and of the last, stderr lines
// doctor shows.
const stderrKeep = 5

func (w *stderrWatch) Enabled(context.Context, slog.Level) bool { return true }

func (w *stderrWatch) Handle(_ context.Context, r slog.Record) error {
	if r.Message != ptyproc.StderrMessage {
		return nil
	}
	var line string
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "line" {
			line = a.Value.String()
			return false
		}
		return true
	})
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lines++
	if w.canary != "" && strings.Contains(line, w.canary) {
		w.sawCanary = true
		line = "(a line holding the test password, not shown)"
	}
	if len(line) > 200 {
		line = line[:200] + "..."
	}
	if len(w.first) < stderrKeep {
		w.first = append(w.first, line)
		return nil
	}
	if len(w.last) == stderrKeep {
		w.last = w.last[1:]
	}
	w.last = append(w.last, line)
	return nil
}

func (w *stderrWatch) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *stderrWatch) WithGroup(string) slog.Handler      { return w }

// tail returns the lines to show: the first few and the last few.
func (w *stderrWatch) tail() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := append([]string(nil), w.first...)
	if skipped := w.lines - len(w.first) - len(w.last); skipped > 0 {
		out = append(out, fmt.Sprintf("(%d more lines)", skipped))
	}
	return append(out, w.last...)
}

func (w *stderrWatch) canarySeen() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.sawCanary
}
