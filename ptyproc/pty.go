package ptyproc

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// openRawPTY opens a pty pair whose slave is private to this user (mode
// 0600) and already raw, and whose master is non-blocking so that deadlines
// and Close interrupt a Read.
func openRawPTY() (master, slave *os.File, err error) {
	// os.OpenFile opens it close-on-exec and, the master being pollable,
	// registers it with the poller in non-blocking mode. Nothing may call
	// master.Fd() afterwards: that switches it back to blocking mode, where
	// deadlines are ignored and Close does not wake a blocked Read (the
	// trap creack/pty's issues 162 and 167 describe).
	master, err = os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("ptyproc: open pty: %w", err)
	}
	slave, err = openSlave(master)
	if err == nil {
		err = makeRaw(slave)
	}
	if err != nil {
		master.Close()
		if slave != nil {
			slave.Close()
		}
		return nil, nil, err
	}
	return master, slave, nil
}

// openSlave makes master's slave private, unlocks it and opens it.
//
// devpts creates the slave with the mode and group of its mount options,
// commonly mode=620,gid=tty: group tty (write(1), wall(1)) could write into
// a helper's terminal, and whoever opens it can also read what the helper
// would read. A slave cannot be opened by anyone while it is locked, so its
// mode is changed before it is unlocked; the open descriptor is checked
// afterwards, in case the path named another devpts instance.
func openSlave(master *os.File) (*os.File, error) {
	rc, err := master.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("ptyproc: open pty: %w", err)
	}
	var (
		slaveFD = -1
		name    string
		ferr    error
	)
	err = rc.Control(func(fd uintptr) {
		n, err := unix.IoctlGetUint32(int(fd), unix.TIOCGPTN)
		if err != nil {
			ferr = fmt.Errorf("ptyproc: pty number: %w", err)
			return
		}
		name = "/dev/pts/" + strconv.FormatUint(uint64(n), 10)
		if err := chmodLockedSlave(name, n); err != nil {
			ferr = err
			return
		}
		if err := unix.IoctlSetPointerInt(int(fd), unix.TIOCSPTLCK, 0); err != nil {
			ferr = fmt.Errorf("ptyproc: unlock pty: %w", err)
			return
		}
		// TIOCGPTPEER opens the slave of this very master, whatever the
		// path says (Linux 4.13); older kernels open it by name.
		flags := unix.O_RDWR | unix.O_NOCTTY | unix.O_CLOEXEC
		r, _, errno := unix.Syscall(unix.SYS_IOCTL, fd, unix.TIOCGPTPEER, uintptr(flags))
		if errno == 0 {
			slaveFD = int(r)
			return
		}
		slaveFD, err = unix.Open(name, flags, 0)
		if err != nil {
			ferr = fmt.Errorf("ptyproc: open pty slave: %w", err)
		}
	})
	if err == nil {
		err = ferr
	}
	if err != nil {
		if slaveFD >= 0 {
			unix.Close(slaveFD)
		}
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(slaveFD, &st); err == nil && st.Mode&0o077 != 0 {
		err = unix.Fchmod(slaveFD, 0o600)
	}
	if err != nil {
		unix.Close(slaveFD)
		return nil, fmt.Errorf("ptyproc: make pty slave private: %w", err)
	}
	return os.NewFile(uintptr(slaveFD), name), nil
}

// chmodLockedSlave sets the still-locked slave at name to 0600, if name is
// the slave numbered n. When it is not (devpts mounted elsewhere), the mode
// is fixed on the open descriptor instead.
func chmodLockedSlave(name string, n uint32) error {
	var st unix.Stat_t
	if err := unix.Stat(name, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || ptyIndex(st.Rdev) != n {
		return nil
	}
	if err := unix.Chmod(name, 0o600); err != nil {
		return fmt.Errorf("ptyproc: make pty slave private: %w", err)
	}
	return nil
}

// ptyIndex is the pty number of a Unix98 pty slave device (majors 136-143).
func ptyIndex(rdev uint64) uint32 {
	major, minor := unix.Major(rdev), unix.Minor(rdev)
	if major < 136 || major > 143 {
		return ^uint32(0)
	}
	return (major-136)<<8 | minor
}

// makeRaw sets the terminal mode cfmakeraw(3) sets, and also clears IXOFF:
// no echo, no signal characters, no line editing or length limit, no CR/NL
// translation in either direction, 8-bit clean. Doing it on the slave before
// the helper starts means even the first request is never echoed.
func makeRaw(slave *os.File) error {
	rc, err := slave.SyscallConn()
	if err != nil {
		return fmt.Errorf("ptyproc: raw mode: %w", err)
	}
	var terr error
	err = rc.Control(func(fd uintptr) {
		t, err := unix.IoctlGetTermios(int(fd), unix.TCGETS)
		if err != nil {
			terr = err
			return
		}
		t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP |
			unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON | unix.IXOFF
		t.Oflag &^= unix.OPOST
		t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		t.Cflag &^= unix.CSIZE | unix.PARENB
		t.Cflag |= unix.CS8
		t.Cc[unix.VMIN] = 1
		t.Cc[unix.VTIME] = 0
		terr = unix.IoctlSetTermios(int(fd), unix.TCSETS, t)
	})
	if err == nil {
		err = terr
	}
	if err != nil {
		return fmt.Errorf("ptyproc: raw mode: %w", err)
	}
	return nil
}
