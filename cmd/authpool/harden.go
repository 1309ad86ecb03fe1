package main

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/authpool/authpool/ptyproc"
)

// hardenProcess is the first thing main does, for every command: each of
// them holds passwords in memory at some point (serve and bench their
// requests, check and connect the one they pass on).
//
//   - Not dumpable (PR_SET_DUMPABLE 0): no core dump where the kernel
//     honours that (fs.suid_dumpable 0), and no ptrace, /proc/PID/mem or
//     /proc/PID/environ for other processes of the same user.
//   - RLIMIT_CORE 0, soft and hard, for a core_pattern that would dump it
//     anyway (fs.suid_dumpable 2): no core file, and systemd-coredump
//     stores none. Helpers inherit the limit.
//   - Every inherited descriptor from 3 up close-on-exec, except the
//     sockets systemd passes (LISTEN_FDS, for this process), which socket
//     activation then takes over: nothing the daemon was started with
//     leaks into a helper. (ptyproc does the same before each helper; this
//     covers every other way a descriptor could leave the process.)
//
// Undoing any of these takes a change here, not a flag: nothing the daemon
// does needs them.
func hardenProcess() error {
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("cannot make the process undumpable: %w", err)
	}
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{}); err != nil {
		return fmt.Errorf("cannot disable core dumps: %w", err)
	}
	if err := ptyproc.CloseOnExecFrom(3 + activationFDs()); err != nil {
		return fmt.Errorf("cannot make inherited descriptors close-on-exec: %w", err)
	}
	return nil
}

// activationFDs is how many descriptors, from 3, systemd passed to this
// process (sd_listen_fds(3)).
func activationFDs() int {
	pid, err := strconv.Atoi(os.Getenv("LISTEN_PID"))
	if err != nil || pid != os.Getpid() {
		return 0
	}
	n, err := strconv.Atoi(os.Getenv("LISTEN_FDS"))
	if err != nil || n < 0 {
		return 0
	}
	return n
}
