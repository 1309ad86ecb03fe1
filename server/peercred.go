package server

import (
	"errors"
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// ErrNotAllowed is wrapped by the error logged for a connection refused by
// the allow lists (Config.AllowUIDs and AllowGIDs, GateConfig's).
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
