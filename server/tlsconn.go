package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// handshakeTimeout bounds a TLS handshake: a client that connects and
// stalls holds a place no longer than this.
const handshakeTimeout = 10 * time.Second

// ServeTLS is Serve over mutual TLS (t): the native and generic line
// protocols, from clients whose certificate t admits. The uid and gid
// allow lists do not apply (a remote peer has no uid here); the
// certificate is who the peer is, and MaxConnectionsPerPeer counts by its
// common name. Until its handshake is done a connection counts against
// its address instead, so that unauthenticated connections from one
// address cannot take every place. The handshake happens in the
// connection's own goroutine, bounded by handshakeTimeout, never in the
// accept loop.
func (s *Server) ServeTLS(l net.Listener, t *TLS) error {
	most := s.cfg.MaxConnections
	if most <= 0 {
		most = 1024
	}
	perPeer := s.cfg.MaxConnectionsPerPeer
	if perPeer <= 0 {
		perPeer = max(1, most/4)
	}
	g := NewGate(l, GateConfig{
		MaxConnections: most,
		MaxPerPeer:     most, // counted below: by address, then by certificate
		Budget:         s.cfg.Budget,
		Logger:         s.log,
		peer:           addrPeer,
	})
	pending := newPeerCounter(perPeer)
	idents := newPeerCounter(perPeer)
	cfg := t.Config()
	return s.serveGated(g, lineCodec{}, func(nc net.Conn) net.Conn {
		addr := "addr " + hostOf(nc.RemoteAddr())
		if !pending.acquire(addr) {
			s.log.Warn("connection refused: too many handshakes from one address", "err",
				fmt.Errorf("%w: %s", ErrPeerOverLimit, addr), "max_per_peer", perPeer)
			nc.Close()
			return nil
		}
		return &tlsConn{Conn: tls.Server(nc, cfg), raw: nc, s: s, pending: pending, idents: idents, addr: addr}
	})
}

// addrPeer is who a TLS connection is before its handshake: an address.
func addrPeer(c net.Conn) (Peer, error) { return Peer{Addr: hostOf(c.RemoteAddr())}, nil }

func hostOf(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	return a.String()
}

// tlsConn is a server connection over TLS. Its first Read does the
// handshake and admits the certificate's identity; a refusal is the
// error every Read returns, which ends the connection before any request
// is read.
type tlsConn struct {
	*tls.Conn
	raw             net.Conn // under Conn
	s               *Server
	pending, idents *peerCounter
	addr            string

	once sync.Once
	err  error

	mu     sync.Mutex
	closed bool
	held   string // the identity holding a place; "" when none
	inHand bool   // the address's handshake place is released
}

func (c *tlsConn) Read(b []byte) (int, error) {
	c.once.Do(c.admit)
	if c.err != nil {
		return 0, c.err
	}
	return c.Conn.Read(b)
}

func (c *tlsConn) admit() {
	ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
	err := c.Conn.HandshakeContext(ctx)
	cancel()
	c.releasePending()
	if err != nil {
		c.s.log.Warn("connection refused: TLS handshake failed", "addr", c.addr, "err", err)
		c.err = err
		return
	}
	key := certIdentity(c.Conn.ConnectionState())
	if !c.idents.acquire(key) {
		c.err = fmt.Errorf("%w: %s", ErrPeerOverLimit, key)
		c.s.log.Warn("connection refused: too many from one peer", "err", c.err, "max_per_peer", c.idents.max)
		return
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		c.idents.release(key)
		c.err = net.ErrClosed
		return
	}
	c.held = key
	c.mu.Unlock()
}

func (c *tlsConn) releasePending() {
	c.mu.Lock()
	done := c.inHand
	c.inHand = true
	c.mu.Unlock()
	if !done {
		c.pending.release(c.addr)
	}
}

func (c *tlsConn) Close() error {
	c.mu.Lock()
	c.closed = true
	key := c.held
	c.held = ""
	c.mu.Unlock()
	if key != "" {
		c.idents.release(key)
	}
	c.releasePending()
	// The socket itself, not tls.Conn's Close, which first writes a
	// close_notify alert and waits up to 5 s for a peer that reads
	// nothing; the server closes its connections one after another at
	// shutdown. A peer sees the end of the stream instead of the alert:
	// answers carry their own ids, so a cut is a lost connection, never
	// a wrong answer.
	err := c.raw.Close()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// peerCounter counts connections per key, up to max each.
type peerCounter struct {
	mu  sync.Mutex
	n   map[string]int
	max int
}

func newPeerCounter(max int) *peerCounter { return &peerCounter{n: make(map[string]int), max: max} }

func (p *peerCounter) acquire(key string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n[key] >= p.max {
		return false
	}
	p.n[key]++
	return true
}

func (p *peerCounter) release(key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n[key]--; p.n[key] <= 0 {
		delete(p.n, key)
	}
}
