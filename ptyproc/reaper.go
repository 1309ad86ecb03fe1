package ptyproc

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ErrReaperRunning is returned by StartReaper while another Reaper of this
// process is running.
var ErrReaperRunning = errors.New("ptyproc: a Reaper is already running in this process")

// ReaperConfig says how a Reaper works; every zero value has a useful
// default.
type ReaperConfig struct {
	// Logger is told of every process killed; nil discards.
	Logger *slog.Logger

	// Interval is how often the Reaper looks for adopted processes even
	// when no child has exited (a helper's grandchild whose parent exited
	// while the helper lives on is adopted without a SIGCHLD). Zero means
	// 5s.
	Interval time.Duration

	// CloseTimeout bounds how long Close waits for the last adopted
	// processes to die. Zero means 5s.
	CloseTimeout time.Duration
}

// Reaper kills and reaps the descendants of helpers that left their
// helper's process group.
//
// Stop and Close kill a helper's process group, which ends every
// descendant that stayed in it. A descendant that called setsid or setpgid
// (a daemonizing grandchild) is out of reach of that signal and would
// outlive its helper and the host. StartReaper makes this process a child
// subreaper (PR_SET_CHILD_SUBREAPER): an orphaned descendant is then
// re-parented to this process instead of to init. Such an adopted process
// is not a helper, and no helper can be shown to still need it, so the
// Reaper kills it (SIGKILL, to it and to its process group when it leads
// one) and reaps it, so that no zombie is left. It looks whenever a child
// exits (SIGCHLD: a helper's exit is what orphans its descendants), every
// Interval, and once more, until none is left, in Close.
//
// It tells adopted processes from helpers by the pids Start recorded, and
// leaves alone the children this process had when StartReaper was called.
// Any other child is taken for an adopted one: a program that starts
// children of its own by other means than Start while a Reaper runs must
// not use one. At most one Reaper runs in a process at a time.
type Reaper struct {
	log          *slog.Logger
	interval     time.Duration
	closeTimeout time.Duration
	me           int
	wasSubreaper bool

	known  map[int]uint64 // children already there at the start, by pid: start time
	killed map[int]uint64 // adopted processes killed and not yet reaped, logged once

	sigc      chan os.Signal
	quit      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

var reaperRunning atomic.Bool

// StartReaper makes this process a child subreaper and starts a Reaper. It
// must be ended with Close.
func StartReaper(cfg ReaperConfig) (*Reaper, error) {
	if !reaperRunning.CompareAndSwap(false, true) {
		return nil, ErrReaperRunning
	}
	r := &Reaper{
		log:          cfg.Logger,
		interval:     cfg.Interval,
		closeTimeout: cfg.CloseTimeout,
		me:           os.Getpid(),
		known:        make(map[int]uint64),
		killed:       make(map[int]uint64),
		sigc:         make(chan os.Signal, 1),
		quit:         make(chan struct{}),
		done:         make(chan struct{}),
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.interval <= 0 {
		r.interval = 5 * time.Second
	}
	if r.closeTimeout <= 0 {
		r.closeTimeout = 5 * time.Second
	}
	var was int32
	if err := unix.Prctl(unix.PR_GET_CHILD_SUBREAPER, uintptr(unsafe.Pointer(&was)), 0, 0, 0); err != nil {
		reaperRunning.Store(false)
		return nil, fmt.Errorf("ptyproc: child subreaper: %w", err)
	}
	r.wasSubreaper = was != 0
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		reaperRunning.Store(false)
		return nil, fmt.Errorf("ptyproc: child subreaper: %w", err)
	}
	helpers.fork.Lock()
	for _, pid := range ChildrenOf(r.me) {
		if st, ok := readStat(pid); ok {
			r.known[pid] = st.start
		}
	}
	helpers.fork.Unlock()
	signal.Notify(r.sigc, syscall.SIGCHLD)
	go r.run()
	return r, nil
}

func (r *Reaper) run() {
	defer close(r.done)
	tick := time.NewTicker(r.interval)
	defer tick.Stop()
	for {
		select {
		case <-r.quit:
			return
		case <-r.sigc:
		case <-tick.C:
		}
		r.sweep()
	}
}

// sweep kills and reaps what it can of the adopted processes, and returns
// how many it found.
func (r *Reaper) sweep() int {
	helpers.fork.Lock()
	defer helpers.fork.Unlock()
	found := 0
	for _, pid := range ChildrenOf(r.me) {
		if isHelper(pid) {
			continue
		}
		st, ok := readStat(pid)
		if !ok || st.ppid != r.me {
			continue // gone, or re-parented elsewhere meanwhile
		}
		if start, ok := r.known[pid]; ok && start == st.start {
			continue
		}
		found++
		if start, ok := r.killed[pid]; !ok || start != st.start {
			r.killed[pid] = st.start
			r.log.Warn("killed a process a helper left behind", "pid", pid, "command", st.comm)
		}
		// It is this process's child and only sweep reaps it, so pid
		// cannot name another process until the Wait4 below succeeds.
		unix.Kill(pid, unix.SIGKILL)
		if st.pgid == pid {
			// The group it leads is its session's or its own making: no
			// helper is in it.
			unix.Kill(-pid, unix.SIGKILL)
		}
		var ws unix.WaitStatus
		if wpid, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil); wpid == pid || err == unix.ECHILD {
			delete(r.killed, pid)
		}
	}
	return found
}

// Close stops the Reaper after killing and reaping, within CloseTimeout,
// every process adopted so far, and gives back the subreaper setting this
// process had. Call it after the helpers are gone. It returns an error if
// some adopted process was still dying at the deadline.
func (r *Reaper) Close() error {
	r.closeOnce.Do(func() {
		close(r.quit)
		<-r.done
		deadline := time.NewTimer(r.closeTimeout)
		defer deadline.Stop()
		// Each death re-parents its children here and sends SIGCHLD; the
		// tick is for processes killed while still in the kernel.
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
	loop:
		for r.sweep() > 0 {
			select {
			case <-deadline.C:
				r.closeErr = fmt.Errorf("ptyproc: processes left behind by helpers still there after %v", r.closeTimeout)
				break loop
			case <-r.sigc:
			case <-tick.C:
			}
		}
		signal.Stop(r.sigc)
		if !r.wasSubreaper {
			unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
		}
		reaperRunning.Store(false)
	})
	return r.closeErr
}
