package ptyproc

import (
	"fmt"
	"os"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// openRawPTY opens a pty pair whose slave is already raw, and whose master
// is non-blocking so that deadlines and Close interrupt a Read.
func openRawPTY() (master, slave *os.File, err error) {
	master, slave, err = pty.Open()
	if err != nil {
		return nil, nil, fmt.Errorf("ptyproc: open pty: %w", err)
	}
	if err := makeRaw(slave); err != nil {
		master.Close()
		slave.Close()
		return nil, nil, err
	}
	// pty.Open called master.Fd(), which leaves the descriptor in blocking
	// mode: a deadline would then be ignored and Close would not wake a
	// blocked Read (creack/pty issues 162, 167). Setting O_NONBLOCK again
	// through the raw conn restores the poller's behaviour. Nothing may call
	// master.Fd() (or pty.Setsize on it) after this.
	rc, err := master.SyscallConn()
	if err == nil {
		cerr := rc.Control(func(fd uintptr) { err = unix.SetNonblock(int(fd), true) })
		if cerr != nil {
			err = cerr
		}
	}
	if err != nil {
		master.Close()
		slave.Close()
		return nil, nil, fmt.Errorf("ptyproc: make pty master non-blocking: %w", err)
	}
	return master, slave, nil
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
