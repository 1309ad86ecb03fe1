package pool

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

	"golang.org/x/sys/unix"

	"github.com/authpool/authpool/ptyproc"
)

// Probe proves cfg's helper command before anything depends on it: it
// starts one helper as cfg says, asks it whether a user that cannot exist
// exists ("isuser:authpool-probe:probe.invalid"), requires one well-formed
// answer, either one, within StartTimeout plus Timeout and then silence for
// a moment, and stops it. The daemon calls it before it says it is
// serving; Reconfigure calls it before it replaces any helper.
//
// The error names the program and the cause: why it could not be executed
// (not found, not executable, a directory, a #! interpreter that is
// missing), wrapping ErrHelperStart, also when it ended before answering,
// with how it ended and the last lines it wrote to stderr; ErrTimeout when
// it did not answer; ErrProtocol when its answer was not one answer. ctx
// ending stops the probe and returns ctx's error.
func Probe(ctx context.Context, cfg Config) error {
	c, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	return probeCommand(ctx, &c)
}

// stderrTailLines is how many of its last stderr lines a failed probe
// reports.
const stderrTailLines = 5

func probeCommand(ctx context.Context, c *Config) error {
	name := c.Command[0]
	h := newHelper(nil)
	h.conf = c
	var tail stderrTail
	proc, err := ptyproc.Start(ptyproc.Config{
		Args:      c.Command,
		Env:       c.Env,
		Dir:       c.Dir,
		Transport: c.Transport,
		Logger:    slog.New(&tailHandler{next: c.Logger.Handler(), tail: &tail}),
	})
	if err != nil {
		return fmt.Errorf("%w: %s: %s", ErrHelperStart, name, startCause(name, c.Dir, err))
	}
	h.startedAs(proc, c.Protocol)
	req := probeIsUser
	limit := c.Timeout + c.StartTimeout
	_, err = h.exchange(ctx, req, h.started.Add(limit), probeQuiet)
	if err == nil {
		proc.Stop(c.StopGrace)
		return nil
	}
	if errors.Is(err, ErrHelperExited) {
		// The output ends a moment before the process is reaped.
		t := time.NewTimer(time.Second)
		select {
		case <-proc.Done():
		case <-t.C:
		}
		t.Stop()
	}
	state := proc.ExitState()
	proc.Close() // and wait for the last of its stderr
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, ErrProtocol):
		err = fmt.Errorf("helper %s: its output is not one answer to one question (junk, or stray lines): %w", name, err)
	case state != nil:
		err = fmt.Errorf("%w: %s: %s before its first answer", ErrHelperStart, name, exitCause(state))
	case errors.Is(err, ErrTimeout):
		err = fmt.Errorf("helper %s: %w: no answer within %v to %s", name, ErrTimeout, limit, req)
	default:
		err = fmt.Errorf("helper %s: %w", name, err)
	}
	if s := tail.String(); s != "" {
		err = fmt.Errorf("%w; its stderr: %s", err, s)
	}
	return err
}

// exitCause says how a process ended, with what the shell's conventional
// statuses mean.
func exitCause(st *os.ProcessState) string {
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return "killed by " + unix.SignalName(ws.Signal())
	}
	switch code := st.ExitCode(); code {
	case 126:
		return "exited with status 126 (a program it runs is not executable)"
	case 127:
		return "exited with status 127 (a program it runs was not found, such as the interpreter named by `#!/usr/bin/env`)"
	default:
		return fmt.Sprintf("exited with status %d", code)
	}
}

// stderrTail keeps a helper's last stderr lines, redacted, for an error
// message. The stderr goroutine adds; the prober reads after Close.
type stderrTail struct {
	mu    sync.Mutex
	lines []string
}

func (t *stderrTail) add(line []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.lines) == stderrTailLines {
		t.lines = t.lines[1:]
	}
	t.lines = append(t.lines, string(line))
}

// tailHandler passes records on to next, keeping the helper's stderr lines
// (redacted by ptyproc already) in tail.
type tailHandler struct {
	next slog.Handler
	tail *stderrTail
}

func (t *tailHandler) Enabled(context.Context, slog.Level) bool { return true }

func (t *tailHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == ptyproc.StderrMessage {
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "line" {
				t.tail.add([]byte(a.Value.String()))
				return false
			}
			return true
		})
	}
	if !t.next.Enabled(ctx, r.Level) {
		return nil
	}
	return t.next.Handle(ctx, r)
}

func (t *tailHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &tailHandler{next: t.next.WithAttrs(as), tail: t.tail}
}

func (t *tailHandler) WithGroup(name string) slog.Handler {
	return &tailHandler{next: t.next.WithGroup(name), tail: t.tail}
}

// String quotes the lines, so that nothing the helper wrote can forge a
// log line.
func (t *stderrTail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	q := make([]string, len(t.lines))
	for i, l := range t.lines {
		q[i] = fmt.Sprintf("%q", l)
	}
	return strings.Join(q, ", ")
}
