package main

import (
	"errors"
	"net"
	"sync/atomic"
	"time"
)

var errElementTooLarge = errors.New("element too large")

// clientConn is a client's TCP connection with two bounds that the layers
// above cannot lift.
//
// A byte budget: the XML decoder reads a whole element, and a whole text
// node, into memory before anyone can look at its size, so the limit is
// enforced here, on bytes as they arrive. refill is called after each
// element has been handled, and a client that sends more than the budget
// before that is cut off. (The decoder reads ahead a few KiB, so the bound
// is approximate, never unbounded.)
//
// A hard deadline, during negotiation: mellium interrupts a read when its
// context ends by setting a deadline in the past and then clearing it,
// which would also clear a deadline of ours and leave the next read
// waiting forever. Here a deadline can be moved earlier, never cleared or
// moved past the hard one.
type clientConn struct {
	net.Conn
	max  int64
	left atomic.Int64
	hard atomic.Int64 // Unix nanoseconds; 0 for none
}

func newClientConn(c net.Conn, maxElement int) *clientConn {
	cc := &clientConn{Conn: c, max: int64(maxElement)}
	cc.refill()
	return cc
}

func (c *clientConn) refill() { c.left.Store(c.max) }

func (c *clientConn) Read(p []byte) (int, error) {
	left := c.left.Load()
	if left <= 0 {
		return 0, errElementTooLarge
	}
	if int64(len(p)) > left {
		p = p[:left]
	}
	n, err := c.Conn.Read(p)
	c.left.Add(-int64(n))
	return n, err
}

// setHardDeadline bounds every read and write until it is called again
// with the zero time.
func (c *clientConn) setHardDeadline(t time.Time) {
	if t.IsZero() {
		c.hard.Store(0)
	} else {
		c.hard.Store(t.UnixNano())
	}
	c.Conn.SetDeadline(t)
}

func (c *clientConn) bound(t time.Time) time.Time {
	if h := c.hard.Load(); h != 0 && (t.IsZero() || t.UnixNano() > h) {
		return time.Unix(0, h)
	}
	return t
}

func (c *clientConn) SetDeadline(t time.Time) error { return c.Conn.SetDeadline(c.bound(t)) }

func (c *clientConn) SetReadDeadline(t time.Time) error { return c.Conn.SetReadDeadline(c.bound(t)) }

func (c *clientConn) SetWriteDeadline(t time.Time) error { return c.Conn.SetWriteDeadline(c.bound(t)) }
