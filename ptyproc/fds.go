package ptyproc

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// CloseOnExecFrom marks every descriptor of this process numbered first or
// higher close-on-exec.
//
// Go opens every descriptor close-on-exec, and os/exec passes a child only
// what it is given, but descriptors this process inherited without the flag
// (from a shell, a supervisor, a parent's leak) would reach every program
// it starts. Start calls it with 3 before each helper, so a helper gets
// stdin, stdout and stderr and nothing else. The flag changes nothing for
// this process's own use of a descriptor.
func CloseOnExecFrom(first int) error {
	err := unix.CloseRange(uint(first), ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	if err == nil {
		return nil
	}
	// Before Linux 5.11: one descriptor at a time.
	ents, rerr := os.ReadDir("/proc/self/fd")
	if rerr != nil {
		return err
	}
	for _, e := range ents {
		fd, cerr := strconv.Atoi(e.Name())
		if cerr != nil || fd < first {
			continue
		}
		// EBADF: the descriptor ReadDir used, or one closed meanwhile.
		if _, ferr := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC); ferr != nil && ferr != unix.EBADF {
			return ferr
		}
	}
	return nil
}
