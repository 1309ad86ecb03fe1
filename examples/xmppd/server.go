package main

import (
	"context"
	"crypto/tls"
	"encoding/xml"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stream"

	"github.com/authpool/authpool/xmppauth"
)

// serverConfig configures a server. Checker, Domains and TLS are required;
// every zero value has the default its comment gives.
type serverConfig struct {
	// Checker checks passwords: a *pool.Pool (or a *client.Client).
	Checker xmppauth.Checker
	// Domains are the hosted domains; streams to any other are refused.
	Domains []jid.JID
	// TLS is the STARTTLS configuration.
	TLS *tls.Config
	// LoginTimeout bounds one password check; zero means 5s.
	LoginTimeout time.Duration
	// NegotiateTimeout bounds the time from connecting to a bound
	// resource; zero means 30s.
	NegotiateTimeout time.Duration
	// MaxConns bounds the connections open at once; zero means 256.
	MaxConns int
	// MaxElement bounds the bytes a client may send for one element (a
	// stanza, or a negotiation step); zero means 64 KiB.
	MaxElement int
	// MaxLoginFailures is how many failed logins one connection may try
	// before its stream is closed; zero means 3.
	MaxLoginFailures int
	// Logger receives events; nil discards them. Passwords never reach it.
	Logger *slog.Logger
}

func (c serverConfig) withDefaults() serverConfig {
	if c.LoginTimeout <= 0 {
		c.LoginTimeout = 5 * time.Second
	}
	if c.NegotiateTimeout <= 0 {
		c.NegotiateTimeout = 30 * time.Second
	}
	if c.MaxConns <= 0 {
		c.MaxConns = 256
	}
	if c.MaxElement <= 0 {
		c.MaxElement = 64 << 10
	}
	if c.MaxLoginFailures <= 0 {
		c.MaxLoginFailures = 3
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// writeTimeout bounds one write to a client: a client that stops reading
// is disconnected rather than left holding a goroutine.
const writeTimeout = 10 * time.Second

// server accepts client connections and routes messages between the
// sessions it has bound. Every connection has a goroutine that Shutdown
// waits for.
type server struct {
	cfg serverConfig
	log *slog.Logger

	mu      sync.Mutex
	ln      net.Listener
	closing bool
	conns   map[*conn]struct{}
	bound   map[string]*conn // full JID of every bound session
	wg      sync.WaitGroup
}

func newServer(cfg serverConfig) *server {
	cfg = cfg.withDefaults()
	return &server{
		cfg:   cfg,
		log:   cfg.Logger,
		conns: make(map[*conn]struct{}),
		bound: make(map[string]*conn),
	}
}

// Serve accepts connections on ln until Shutdown, when it returns nil.
func (s *server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return ln.Close()
	}
	s.ln = ln
	s.mu.Unlock()

	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.isClosing() || errors.Is(err, net.ErrClosed) {
				return nil
			}
			// Out of file descriptors, say: wait, and keep serving those
			// already connected.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed", "err", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		if c := s.admit(nc); c != nil {
			go c.serve()
		}
	}
}

// admit registers a new connection, or closes it when the server is full
// or closing.
func (s *server) admit(nc net.Conn) *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing || len(s.conns) >= s.cfg.MaxConns {
		if !s.closing {
			s.log.Warn("connection refused: too many open", "remote", nc.RemoteAddr().String(), "max", s.cfg.MaxConns)
		}
		nc.Close()
		return nil
	}
	c := newConn(s, nc)
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return c
}

func (s *server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// Shutdown stops accepting, ends every session with a system-shutdown
// stream error and waits for every connection's goroutine. When ctx ends
// first, the remaining connections are cut.
func (s *server) Shutdown(ctx context.Context) {
	s.mu.Lock()
	s.closing = true
	if s.ln != nil {
		s.ln.Close()
	}
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()

	for _, c := range conns {
		c.end(stream.SystemShutdown)
	}
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		for _, c := range conns {
			c.raw.Close()
		}
		<-done
	}
}

// hosts reports whether d is a hosted domain.
func (s *server) hosts(d jid.JID) bool {
	for _, h := range s.cfg.Domains {
		if h.Equal(d) {
			return true
		}
	}
	return false
}

// bind registers c under full, and sets c.full while other sessions,
// which read it under s.mu, cannot look. It fails when another session
// holds that address or the server is closing.
func (s *server) bind(c *conn, full jid.JID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, taken := s.bound[full.String()]; taken || s.closing {
		return false
	}
	s.bound[full.String()] = c
	c.full = full
	return true
}

// forget removes c once its goroutine ends.
func (s *server) forget(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	if b := s.bound[c.full.String()]; b == c {
		delete(s.bound, c.full.String())
	}
}

// sessionsFor returns the sessions a stanza to addr goes to: the session
// bound to a full address, else (RFC 6121 §8.5.3.2.1) every session of its
// bare address. A linear scan: this is an example.
func (s *server) sessionsFor(addr jid.JID) []*conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.bound[addr.String()]; ok {
		return []*conn{c}
	}
	var out []*conn
	bare := addr.Bare()
	for _, c := range s.bound {
		if c.full.Bare().Equal(bare) {
			out = append(out, c)
		}
	}
	return out
}

// conn is one client connection: its negotiation, then its session.
type conn struct {
	srv    *server
	raw    *clientConn
	ctx    context.Context // ends when the connection does, or at shutdown
	cancel context.CancelFunc
	log    *slog.Logger

	// Written by negotiate; only full is read by other goroutines, and
	// it is set under server.mu by server.bind and never changes after.
	domain jid.JID // the stream's hosted domain, fixed by the first header
	user   jid.JID // the authenticated bare address
	full   jid.JID // the bound address

	out chan []xml.Token // stanzas routed here, written by writeLoop

	mu     sync.Mutex
	sess   *xmpp.Session // set once negotiation succeeds
	ending bool
}

// outQueue is how many routed stanzas may wait for a slow client before
// more are refused.
const outQueue = 64

func newConn(s *server, nc net.Conn) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	return &conn{
		srv:    s,
		raw:    newClientConn(nc, s.cfg.MaxElement),
		ctx:    ctx,
		cancel: cancel,
		log:    s.log.With("remote", nc.RemoteAddr().String()),
		out:    make(chan []xml.Token, outQueue),
	}
}

func (c *conn) serve() {
	defer c.srv.wg.Done()
	defer c.srv.forget(c)
	defer c.raw.Close()
	defer c.cancel()

	// The context ends the password check; the hard deadline ends
	// everything else, reads and writes included.
	c.raw.setHardDeadline(time.Now().Add(c.srv.cfg.NegotiateTimeout))
	ctx, cancel := context.WithTimeout(c.ctx, c.srv.cfg.NegotiateTimeout)
	sess, err := xmpp.ReceiveSession(ctx, c.raw, 0, c.negotiate)
	cancel()
	if err != nil {
		c.log.Info("connection closed before a session began", "err", err)
		return
	}
	c.raw.setHardDeadline(time.Time{})
	c.log = c.log.With("jid", c.full.String())
	c.log.Info("session started")
	c.mu.Lock()
	c.sess = sess
	ending := c.ending
	c.mu.Unlock()
	if ending { // Shutdown came during negotiation
		c.end(stream.SystemShutdown)
	}

	var writer sync.WaitGroup
	writer.Go(c.writeLoop)
	err = sess.Serve(xmpp.HandlerFunc(c.handleStanza))
	c.cancel()
	writer.Wait()
	c.log.Info("session ended", "err", err)
}

// end closes the stream with a stream error (system-shutdown at
// shutdown) and then the connection. Before a session exists, it cancels
// the negotiation (a password check in progress ends with
// temporary-auth-failure) and gives it a second to end.
func (c *conn) end(e stream.Error) {
	c.mu.Lock()
	c.ending = true
	sess := c.sess
	c.mu.Unlock()
	c.cancel()
	if sess == nil {
		c.raw.setHardDeadline(time.Now().Add(time.Second))
		return
	}
	c.raw.SetWriteDeadline(time.Now().Add(time.Second))
	w := sess.TokenWriter()
	if _, err := e.WriteXML(w); err == nil {
		w.Flush()
	}
	w.Close()
	sess.Close() // </stream:stream>
	c.raw.Close()
}

// writeLoop writes the stanzas routed to this session, one at a time.
func (c *conn) writeLoop() {
	for {
		select {
		case <-c.ctx.Done():
			return
		case toks := <-c.out:
			ctx, cancel := context.WithTimeout(c.ctx, writeTimeout)
			err := c.sess.Send(ctx, tokenSlice(toks))
			cancel()
			if err != nil {
				c.log.Info("write failed: disconnecting", "err", err)
				c.raw.Close()
				return
			}
		}
	}
}

// deliver queues a stanza for this session; false when its queue is full.
func (c *conn) deliver(toks []xml.Token) bool {
	select {
	case c.out <- toks:
		return true
	default:
		return false
	}
}
