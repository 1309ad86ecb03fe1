package ptyproc

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ErrNoCommand is returned by Start when Config.Args is empty.
var ErrNoCommand = errors.New("ptyproc: no command")

// Process is one running helper. Read, Write and the deadline methods may be
// used by one goroutine at a time, concurrently with Done, Pid, Signal, Stop
// and Close.
type Process struct {
	cmd *exec.Cmd
	pid int
	in  *os.File // helper's stdin: the pty master, or a pipe's write end
	out *os.File // helper's stdout: the same master, or a pipe's read end

	secrets   *secretWindow // passwords to redact from stderr
	done      chan struct{} // closed once the helper is reaped
	state     *os.ProcessState
	waitErr   error
	stderrEnd chan struct{} // closed when the stderr goroutine returns
	closeOnce sync.Once
	closeErr  error
}

// Start starts a helper as cfg says. The returned Process must be ended with
// Stop or Close, even after the helper has exited by itself.
func Start(cfg Config) (*Process, error) {
	c := cfg.withDefaults()
	if len(c.Args) == 0 || c.Args[0] == "" {
		return nil, ErrNoCommand
	}
	cmd := exec.Command(c.Args[0], c.Args[1:]...)
	cmd.Env = helperEnv(c.Env)
	cmd.Dir = c.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setsid: true,
		// The helper dies with the host even when the host is SIGKILLed.
		// Pdeathsig follows the forking OS thread, and the Go runtime keeps
		// its threads, so this holds (golang/go#27505).
		Pdeathsig: syscall.SIGKILL,
	}

	// childEnds are the descriptors only the helper keeps; the parent closes
	// its copies once the helper has them.
	var childEnds []*os.File
	closeAll := func(fs ...*os.File) {
		for _, f := range fs {
			if f != nil {
				f.Close()
			}
		}
	}
	p := &Process{
		cmd:       cmd,
		secrets:   newSecretWindow(c.RedactWindow),
		done:      make(chan struct{}),
		stderrEnd: make(chan struct{}),
	}
	switch c.Transport {
	case PTY:
		master, slave, err := openRawPTY()
		if err != nil {
			return nil, err
		}
		cmd.Stdin, cmd.Stdout = slave, slave
		cmd.SysProcAttr.Setctty = true
		cmd.SysProcAttr.Ctty = 0 // the child's stdin
		p.in, p.out = master, master
		childEnds = append(childEnds, slave)
	case Pipe:
		inR, inW, err := os.Pipe()
		if err != nil {
			return nil, fmt.Errorf("ptyproc: stdin pipe: %w", err)
		}
		outR, outW, err := os.Pipe()
		if err != nil {
			closeAll(inR, inW)
			return nil, fmt.Errorf("ptyproc: stdout pipe: %w", err)
		}
		cmd.Stdin, cmd.Stdout = inR, outW
		p.in, p.out = inW, outR
		childEnds = append(childEnds, inR, outW)
	default:
		return nil, fmt.Errorf("ptyproc: unknown transport %d", c.Transport)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		closeAll(childEnds...)
		p.closeFiles()
		return nil, fmt.Errorf("ptyproc: stderr pipe: %w", err)
	}
	cmd.Stderr = errW
	childEnds = append(childEnds, errW)

	// Descriptors this process inherited without close-on-exec would reach
	// the helper: it gets 0, 1 and 2 only.
	if err := CloseOnExecFrom(3); err != nil {
		closeAll(childEnds...)
		errR.Close()
		p.closeFiles()
		return nil, fmt.Errorf("ptyproc: close-on-exec: %w", err)
	}
	helpers.fork.RLock()
	err = cmd.Start()
	if err == nil {
		p.pid = cmd.Process.Pid
		addHelper(p)
	}
	helpers.fork.RUnlock()
	closeAll(childEnds...)
	if err != nil {
		errR.Close()
		p.closeFiles()
		return nil, fmt.Errorf("ptyproc: start %s: %w", c.Args[0], err)
	}
	go p.copyStderr(errR, c)
	go p.wait()
	c.Logger.Debug("helper started", "pid", p.pid, "transport", c.Transport)
	return p, nil
}

// helperEnv is the whole environment a helper sees: the host's PATH, HOME
// and LANG, then extra.
func helperEnv(extra []string) []string {
	env := make([]string, 0, 3+len(extra))
	for _, k := range []string{"PATH", "HOME", "LANG"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	if _, ok := os.LookupEnv("PATH"); !ok {
		env = append(env, "PATH=/usr/local/bin:/usr/bin:/bin")
	}
	return append(env, extra...)
}

// wait is the only caller of cmd.Wait.
func (p *Process) wait() {
	// Wait for the exit without reaping, so the pid, and with it the process
	// group id, cannot be reused while the group is killed: grandchildren
	// that still hold the terminal would otherwise keep it open and outlive
	// the helper.
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, p.pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err != unix.EINTR {
			break
		}
	}
	_ = unix.Kill(-p.pid, unix.SIGKILL)
	p.waitErr = p.cmd.Wait()
	forgetHelper(p)
	p.state = p.cmd.ProcessState
	close(p.done)
}

// Pid returns the helper's process id, which is also its process group id.
func (p *Process) Pid() int { return p.pid }

// Done is closed once the helper has exited and been reaped, whatever the
// cause.
func (p *Process) Done() <-chan struct{} { return p.done }

// ExitState returns how the helper ended; it is nil until Done is closed.
func (p *Process) ExitState() *os.ProcessState {
	select {
	case <-p.done:
		return p.state
	default:
		return nil
	}
}

// Signal sends sig to the helper's process group.
func (p *Process) Signal(sig syscall.Signal) error {
	select {
	case <-p.done:
		return os.ErrProcessDone
	default:
	}
	return unix.Kill(-p.pid, sig)
}

// Redact makes the helper's stderr lines show secret as "(redacted)", as it
// is and in the escaped forms scripts print strings in, until
// Config.RedactWindow after the last call with it. Call it before secret is
// written to the helper. The Process keeps a copy, wiped when the window
// ends or the helper's stderr is closed.
func (p *Process) Redact(secret string) { p.secrets.add(secret) }

// Write writes to the helper's stdin.
func (p *Process) Write(b []byte) (int, error) { return p.in.Write(b) }

// Read reads the helper's stdout. It returns io.EOF once the helper and
// everything that held its stdout are gone.
func (p *Process) Read(b []byte) (int, error) {
	n, err := p.out.Read(b)
	if errors.Is(err, syscall.EIO) {
		// A pty master reports a closed slave side as EIO, not EOF.
		err = io.EOF
	}
	return n, err
}

// TryRead reads whatever output is already waiting, without blocking and
// whatever the read deadline: it returns 0 and no error when there is none.
// The host uses it to catch output that arrived while no request was
// outstanding. Over a pty the kernel first pushes out what the helper
// wrote and is still on its way to the master, so that too is seen.
func (p *Process) TryRead(b []byte) (int, error) {
	rc, err := p.out.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int
	var rerr error
	// Control rather than Read: one attempt needs neither the read lock
	// nor a deadline check (so no deadline has to be cleared first), and
	// the descriptor is non-blocking.
	err = rc.Control(func(fd uintptr) {
		for {
			n, rerr = unix.Read(int(fd), b)
			if rerr != unix.EINTR {
				return
			}
		}
	})
	switch {
	case err != nil:
		return 0, err
	case rerr == unix.EAGAIN:
		return 0, nil
	case rerr == unix.EIO || (rerr == nil && n == 0 && len(b) > 0):
		return 0, io.EOF
	case rerr != nil:
		return 0, rerr
	}
	return n, nil
}

// SetDeadline bounds both Read and Write; for a pty, whose one descriptor
// is both ends, in one call.
func (p *Process) SetDeadline(t time.Time) error {
	if p.in == p.out {
		return p.out.SetDeadline(t)
	}
	return errors.Join(p.out.SetReadDeadline(t), p.in.SetWriteDeadline(t))
}

// SetReadDeadline bounds Read; an expired deadline fails Read with an error
// wrapping os.ErrDeadlineExceeded.
func (p *Process) SetReadDeadline(t time.Time) error { return p.out.SetReadDeadline(t) }

// SetWriteDeadline bounds Write, which blocks when the helper does not read.
func (p *Process) SetWriteDeadline(t time.Time) error { return p.in.SetWriteDeadline(t) }

// Stop asks the helper's process group to end with SIGTERM, sends SIGKILL if
// it is still there after grace, and returns once it is reaped and every
// descriptor closed. A blocked Read or Write returns os.ErrClosed. Stop is
// safe to call more than once and concurrently.
func (p *Process) Stop(grace time.Duration) error {
	if p.Signal(syscall.SIGTERM) == nil && grace > 0 {
		t := time.NewTimer(grace)
		select {
		case <-p.done:
		case <-t.C:
		}
		t.Stop()
	}
	return p.Close()
}

// Close kills the helper's process group at once and returns once it is
// reaped and every descriptor is closed. It is safe to call more than once.
func (p *Process) Close() error {
	_ = p.Signal(syscall.SIGKILL)
	// SIGKILL cannot be ignored and the helper is the session leader, so
	// done follows; only a process stuck in the kernel (D state) would delay
	// it, and nothing in user space could do better.
	<-p.done
	p.closeOnce.Do(func() {
		p.closeErr = p.closeFiles()
		<-p.stderrEnd
	})
	return p.closeErr
}

func (p *Process) closeFiles() error {
	var errs []error
	if p.in != nil {
		errs = append(errs, p.in.Close())
	}
	if p.out != nil && p.out != p.in {
		errs = append(errs, p.out.Close())
	}
	return errors.Join(errs...)
}
