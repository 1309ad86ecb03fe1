package server

import (
	"errors"
	"fmt"
	"net"
	"slices"

	"golang.org/x/sys/unix"
)

// ErrNotAllowed is wrapped by the error logged for a connection refused by
// Config.AllowUIDs and Config.AllowGIDs.
var ErrNotAllowed = errors.New("peer not allowed")

// PeerCred returns the credentials of the process at the other end of a Unix
// socket connection, as the kernel recorded them when it connected
// (SO_PEERCRED): they cannot be forged by the client.
func PeerCred(c net.Conn) (*unix.Ucred, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return nil, fmt.Errorf("%T is not a Unix socket connection", c)
	}
	rc, err := uc.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *unix.Ucred
	var credErr error
	err = rc.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	})
	if err != nil {
		return nil, err
	}
	return cred, credErr
}

// admit applies the uid and gid allow lists to a new connection.
func (s *Server) admit(c net.Conn) error {
	if len(s.cfg.AllowUIDs) == 0 && len(s.cfg.AllowGIDs) == 0 {
		return nil
	}
	cred, err := PeerCred(c)
	if err != nil {
		return fmt.Errorf("%w: cannot tell who it is: %w", ErrNotAllowed, err)
	}
	if slices.Contains(s.cfg.AllowUIDs, cred.Uid) || slices.Contains(s.cfg.AllowGIDs, cred.Gid) {
		return nil
	}
	return fmt.Errorf("%w: pid %d uid %d gid %d", ErrNotAllowed, cred.Pid, cred.Uid, cred.Gid)
}
