package server

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"
)

// ErrSocketInUse is returned by ListenUnix when another process is serving
// on the path.
var ErrSocketInUse = errors.New("socket in use")

// ListenUnix listens on a Unix socket at path with permissions mode and,
// unless gid is -1, group gid. A socket file left by a process that died is
// replaced; one a live process still answers on is not. The socket is
// never, even for an instant, accessible beyond mode and group: it is
// created owner-only, given its group, and then widened. Closing the
// listener removes the file.
//
// ListenUnix changes the process umask for the instant of the bind, so call
// it before starting anything that creates files or processes.
func ListenUnix(path string, mode os.FileMode, gid int) (*net.UnixListener, error) {
	if mode.Perm()&0o002 != 0 {
		return nil, fmt.Errorf("socket mode %#o is world-writable: anyone could ask for passwords to be checked", mode.Perm())
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("%s exists and is not a socket; not touching it", path)
		}
		c, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			c.Close()
			return nil, fmt.Errorf("%w: another process is serving on %s", ErrSocketInUse, path)
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("checking %s: %w", path, err)
		}
		// Nobody listens: a stale socket from a process that died.
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("removing stale socket: %w", err)
		}
	}
	old := syscall.Umask(0o177)
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	syscall.Umask(old)
	if err != nil {
		return nil, err
	}
	if gid != -1 {
		if err := os.Lchown(path, -1, gid); err != nil {
			l.Close()
			return nil, fmt.Errorf("chgrp %s: %w", path, err)
		}
	}
	if err := os.Chmod(path, mode.Perm()); err != nil {
		l.Close()
		return nil, fmt.Errorf("chmod %s: %w", path, err)
	}
	return l, nil
}
