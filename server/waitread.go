package server

import (
	"io"
	"net"
	"syscall"
)

// waitReader reads a connection as its Read would, and tells whether the
// last read had to wait for the client: data already there means the
// client sent it without waiting for the answer it was owed.
type waitReader struct {
	rc     syscall.RawConn
	waited bool

	// One Read's state, for readFD, which is made once (a closure made
	// per Read would cost allocations per request).
	p      []byte
	n      int
	err    error
	tries  int
	readFD func(fd uintptr) bool
}

// newWaitReader returns a waitReader for nc, or nil when nc (or the
// connection a Gate admitted) does not expose its descriptor.
func newWaitReader(nc net.Conn) *waitReader {
	if gc, ok := nc.(*gatedConn); ok {
		nc = gc.Conn
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	r := &waitReader{rc: rc}
	r.readFD = r.read
	return r
}

func (r *waitReader) Read(p []byte) (int, error) {
	r.p, r.n, r.err, r.tries = p, 0, nil, 0
	// The runtime calls readFD, and again each time the descriptor is
	// readable, until it returns true; deadlines and Close end the wait
	// as they end the connection's Read.
	rerr := r.rc.Read(r.readFD)
	n, err := r.n, r.err
	r.p, r.waited = nil, r.tries > 1
	switch {
	case rerr != nil:
		return 0, rerr
	case err != nil:
		return 0, err
	case n == 0 && len(p) > 0:
		return 0, io.EOF
	}
	return n, nil
}

func (r *waitReader) read(fd uintptr) bool {
	r.tries++
	for {
		r.n, r.err = syscall.Read(int(fd), r.p)
		if r.err != syscall.EINTR {
			return r.err != syscall.EAGAIN
		}
	}
}
