package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/authpool/authpool/framing"
	"github.com/authpool/authpool/ptyproc"
)

var (
	errConnection = errors.New("connection failed")
	errBadAnswer  = errors.New("answer is not 1 or 0")
)

// SocketTarget talks to a running daemon over its Unix socket in the generic
// line protocol. It holds Connections connections and worker w uses
// connection w mod Connections. When there are at least as many
// connections as workers, each worker owns its connection and simply
// writes a request and reads its answer. Otherwise requests sharing a
// connection are pipelined: each connection has one writer, which batches
// whatever requests are waiting into one write, and one reader, which
// matches answers to requests in order.
type SocketTarget struct {
	conns   []*sockConn
	direct  []*directConn // instead of conns, when each worker has its own
	timeout time.Duration
	pid     int
	path    string
}

// directConn is a connection one worker owns: no goroutines, no queues.
type directConn struct {
	nc   net.Conn
	br   *bufio.Reader
	wbuf []byte
	err  error // once failed, it stays failed
}

type sockConn struct {
	nc      net.Conn
	out     chan *sockCall // requests to write
	pending chan *sockCall // written, answers owed, in order
	done    chan struct{}  // closed when the connection has failed or closed
	errOnce sync.Once
	err     error
	wg      sync.WaitGroup
}

type sockCall struct {
	line []byte
	res  chan sockResult
}

type sockResult struct {
	yes bool
	err error
}

// maxPending bounds the answers owed on one connection; the daemon reads
// no further than its own pipeline bound (128) anyway.
const maxPending = 1024

// DialSocket connects n times to the daemon at path, for workers workers.
// timeout bounds each request (zero: 30s).
func DialSocket(path string, n, workers int, timeout time.Duration) (*SocketTarget, error) {
	if n < 1 {
		n = 1
	}
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	t := &SocketTarget{timeout: timeout, path: path}
	for i := range n {
		nc, err := net.DialTimeout("unix", path, 5*time.Second)
		if err != nil {
			t.Close()
			return nil, fmt.Errorf("connecting to %s: %w", path, err)
		}
		if i == 0 {
			t.pid, _ = PeerPID(nc)
		}
		if n >= workers {
			t.direct = append(t.direct, &directConn{nc: nc, br: bufio.NewReader(nc)})
			continue
		}
		c := &sockConn{
			nc:      nc,
			out:     make(chan *sockCall, maxPending),
			pending: make(chan *sockCall, maxPending),
			done:    make(chan struct{}),
		}
		c.wg.Add(2)
		go c.writeLoop()
		go c.readLoop()
		t.conns = append(t.conns, c)
	}
	return t, nil
}

// Do sends req on connection worker mod Connections and waits for its
// answer.
func (t *SocketTarget) Do(ctx context.Context, worker int, req framing.Request) (bool, error) {
	if t.direct != nil {
		return t.direct[worker%len(t.direct)].do(ctx, req, t.timeout)
	}
	line, err := framing.Generic.AppendRequest(nil, req)
	if err != nil {
		return false, err
	}
	c := t.conns[worker%len(t.conns)]
	call := &sockCall{line: line, res: make(chan sockResult, 1)}
	timer := time.NewTimer(t.timeout)
	defer timer.Stop()
	select {
	case c.out <- call:
	case <-c.done:
		return false, c.err
	case <-ctx.Done():
		return false, ctx.Err()
	}
	select {
	case r := <-call.res:
		return r.yes, r.err
	case <-c.done:
		// The connection died; the writer may have queued this call after
		// the reader's last drain, so nobody else will answer it.
		select {
		case r := <-call.res:
			return r.yes, r.err
		default:
			return false, c.err
		}
	case <-ctx.Done():
		return false, ctx.Err()
	case <-timer.C:
		return false, fmt.Errorf("%w: no answer from the daemon within %v", context.DeadlineExceeded, t.timeout)
	}
}

func (c *directConn) do(ctx context.Context, req framing.Request, timeout time.Duration) (bool, error) {
	if c.err != nil {
		return false, c.err
	}
	var err error
	if c.wbuf, err = framing.Generic.AppendRequest(c.wbuf[:0], req); err != nil {
		return false, err
	}
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	c.nc.SetDeadline(deadline)
	var line []byte
	if _, err = c.nc.Write(c.wbuf); err == nil {
		line, err = c.br.ReadSlice('\n')
	}
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			err = fmt.Errorf("%w: no answer from the daemon within %v", context.DeadlineExceeded, timeout)
		} else {
			err = fmt.Errorf("%w: %w", errConnection, err)
		}
		// Out of step: the answer may still come, so the connection is
		// done.
		c.err = err
		c.nc.Close()
		return false, err
	}
	switch string(line) {
	case "1\n":
		return true, nil
	case "0\n":
		return false, nil
	}
	c.err = errBadAnswer
	c.nc.Close()
	return false, errBadAnswer
}

func (c *sockConn) fail(err error) {
	c.errOnce.Do(func() {
		c.err = fmt.Errorf("%w: %w", errConnection, err)
		close(c.done)
		c.nc.Close()
	})
}

func (c *sockConn) writeLoop() {
	defer c.wg.Done()
	var buf []byte
	for {
		var call *sockCall
		select {
		case call = <-c.out:
		case <-c.done:
			return
		}
		buf = buf[:0]
		for call != nil {
			select {
			case c.pending <- call:
			case <-c.done:
				return
			}
			buf = append(buf, call.line...)
			select {
			case call = <-c.out:
			default:
				call = nil
			}
		}
		if _, err := c.nc.Write(buf); err != nil {
			c.fail(err)
			return
		}
	}
}

func (c *sockConn) readLoop() {
	defer c.wg.Done()
	br := bufio.NewReader(c.nc)
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			c.fail(err)
			c.drain()
			return
		}
		var r sockResult
		switch string(line) {
		case "1\n":
			r.yes = true
		case "0\n":
		default:
			r.err = errBadAnswer
		}
		select {
		case call := <-c.pending:
			call.res <- r
		default:
			c.fail(errors.New("an answer to no request"))
			c.drain()
			return
		}
	}
}

// drain fails every request owed an answer.
func (c *sockConn) drain() {
	for {
		select {
		case call := <-c.pending:
			call.res <- sockResult{err: c.err}
		default:
			return
		}
	}
}

// Close closes the connections.
func (t *SocketTarget) Close() error {
	for _, c := range t.direct {
		c.nc.Close()
	}
	for _, c := range t.conns {
		c.fail(net.ErrClosed)
		c.wg.Wait()
		c.drain()
	}
	return nil
}

// DaemonPID is the daemon's process id, from SO_PEERCRED; 0 if unknown.
func (t *SocketTarget) DaemonPID() int { return t.pid }

// HelperPIDs lists the daemon's child processes: its helpers.
func (t *SocketTarget) HelperPIDs() []HelperPID {
	if t.pid == 0 {
		return nil
	}
	var out []HelperPID
	for _, pid := range ptyproc.ChildrenOf(t.pid) {
		out = append(out, HelperPID{PID: pid, Served: -1})
	}
	return out
}
