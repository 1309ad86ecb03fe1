package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authpool/authpool/framing"
	"github.com/authpool/authpool/result"
)

// Errors. The ones shared with packages result and pool are the same
// values.
var (
	ErrBadRequest  = result.ErrBadRequest
	ErrTimeout     = result.ErrTimeout
	ErrUnavailable = result.ErrUnavailable
	ErrUntrusted   = result.ErrUntrusted // helpers were caught out of step; wraps ErrUnavailable
	ErrOverloaded  = result.ErrOverloaded
	ErrProtocol    = result.ErrProtocol // a helper answered junk
	// ErrHelperExited: a helper died before answering (result's name).
	ErrHelperExited = result.ErrHelperExited
	// ErrExited is ErrHelperExited under the name this package used first.
	ErrExited = ErrHelperExited
	// ErrDaemonClosing: the daemon is shutting down.
	ErrDaemonClosing = errors.New("daemon shutting down")
	// ErrConnection: the daemon could not be reached, or the connection
	// broke and the request could not safely be sent again.
	ErrConnection = errors.New("cannot reach the authpool daemon")
	// ErrClosed: the Client was closed.
	ErrClosed = errors.New("client closed")
)

// kindError is the error a native answer's kind stands for: package
// result's, except that "closed" means the daemon, not this Client.
func kindError(kind framing.ErrorKind) error {
	if kind == framing.KindClosed {
		return ErrDaemonClosing
	}
	return result.Error(kind)
}

// Config configures a Client. Socket is required.
type Config struct {
	// Socket is the daemon's Unix socket path.
	Socket string
	// DialTimeout bounds making a connection; zero means 2s.
	DialTimeout time.Duration
	// Timeout bounds a request whose context has no deadline; zero means
	// 30s.
	Timeout time.Duration
}

// Client sends requests to the daemon over one connection. It is safe for
// concurrent use.
type Client struct {
	cfg    Config
	nextID atomic.Uint64

	mu     sync.Mutex
	sess   *session
	closed bool
}

// New returns a Client for cfg; it connects on first use.
func New(cfg Config) (*Client, error) {
	if cfg.Socket == "" {
		return nil, errors.New("client: Config.Socket is empty")
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 2 * time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	return &Client{cfg: cfg}, nil
}

// Dial returns a Client connected to the daemon at socket.
func Dial(ctx context.Context, socket string) (*Client, error) {
	c, err := New(Config{Socket: socket})
	if err != nil {
		return nil, err
	}
	if _, err := c.session(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// Auth asks whether password is user@server's password.
func (c *Client) Auth(ctx context.Context, user, server, password string) (bool, error) {
	return c.Do(ctx, framing.Request{Op: framing.OpAuth, User: user, Server: server, Password: password})
}

// AuthFrom asks whether password is user@server's password for a login
// from addr, the XMPP client's address (not the caller's): the daemon
// keys its guessing penalties on it, so a guesser elsewhere delays this
// login by --penalty-user-max at most. An invalid addr means unknown, as
// Auth. Daemons older than the from= token answer badrequest.
func (c *Client) AuthFrom(ctx context.Context, user, server, password string, addr netip.Addr) (bool, error) {
	return c.Do(ctx, framing.Request{Op: framing.OpAuth, User: user, Server: server, Password: password, Client: addr})
}

// IsUser asks whether user@server exists.
func (c *Client) IsUser(ctx context.Context, user, server string) (bool, error) {
	return c.Do(ctx, framing.Request{Op: framing.OpIsUser, User: user, Server: server})
}

// SetPass asks for user@server's password to be changed.
func (c *Client) SetPass(ctx context.Context, user, server, password string) (bool, error) {
	return c.Do(ctx, framing.Request{Op: framing.OpSetPass, User: user, Server: server, Password: password})
}

// Do sends req and waits for its answer, at most until ctx ends (or
// Config.Timeout when ctx has no deadline).
func (c *Client) Do(ctx context.Context, req framing.Request) (bool, error) {
	if err := req.Validate(); err != nil {
		return false, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.Timeout)
		defer cancel()
	}
	for attempt := 0; ; attempt++ {
		s, err := c.session(ctx)
		if err != nil {
			return false, err
		}
		yes, sent, err := s.do(ctx, c.nextID.Add(1), req)
		if !errors.Is(err, errBroken) {
			return yes, err
		}
		c.drop(s)
		<-s.done // its reader is gone before the next connection
		if attempt > 0 || (sent && !req.Op.Idempotent()) || ctx.Err() != nil {
			return false, fmt.Errorf("%w: %w", ErrConnection, err)
		}
	}
}

// Status asks the daemon for its status report: one JSON object, as
// "authpool status --json" prints it.
func (c *Client) Status(ctx context.Context) (json.RawMessage, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.Timeout)
		defer cancel()
	}
	s, err := c.session(ctx)
	if err != nil {
		return nil, err
	}
	id := strconv.FormatUint(c.nextID.Add(1), 10)
	r, err := s.exchange(ctx, id, []byte(id+" status\n"))
	if err != nil {
		if !errors.As(err, new(ctxError)) {
			c.drop(s)
			err = fmt.Errorf("%w: %w", ErrConnection, err)
		}
		return nil, err
	}
	body, ok := strings.CutPrefix(r.raw, "status ")
	if !ok {
		return nil, fmt.Errorf("%w: the daemon does not report status", ErrConnection)
	}
	return json.RawMessage(body), nil
}

// session returns the live connection, making one if needed.
func (c *Client) session(ctx context.Context) (*session, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	if c.sess != nil && !c.sess.isDead() {
		return c.sess, nil
	}
	d := net.Dialer{Timeout: c.cfg.DialTimeout}
	nc, err := d.DialContext(ctx, "unix", c.cfg.Socket)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConnection, err)
	}
	c.sess = newSession(nc)
	return c.sess, nil
}

// drop forgets s if it is still the current session.
func (c *Client) drop(s *session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sess == s {
		c.sess = nil
	}
}

// Close closes the connection; requests in flight fail with ErrClosed.
// It returns once the connection's reader has stopped.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	s := c.sess
	c.sess = nil
	c.mu.Unlock()
	if s != nil {
		s.close(ErrClosed)
		<-s.done
	}
	return nil
}

// errBroken marks a request lost with its connection.
var errBroken = errors.New("connection broken")

// session is one connection and its reader goroutine.
type session struct {
	nc  net.Conn
	wmu sync.Mutex // serializes writes

	mu      sync.Mutex
	pending map[string]chan reply
	dead    error // why the session ended; nil while alive
	done    chan struct{}
}

func newSession(nc net.Conn) *session {
	s := &session{nc: nc, pending: make(map[string]chan reply), done: make(chan struct{})}
	go s.readLoop()
	return s
}

func (s *session) isDead() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dead != nil
}

// do sends one request and waits for its answer. sent reports whether the
// request may have reached the daemon.
func (s *session) do(ctx context.Context, id uint64, req framing.Request) (yes, sent bool, err error) {
	line, err := framing.AppendNativeRequest(nil, id, req)
	if err != nil {
		return false, false, err
	}
	r, err := s.exchange(ctx, strconv.FormatUint(id, 10), line)
	var ce ctxError
	switch {
	case errors.As(err, &ce):
		return false, true, ce.error
	case errors.Is(err, errNotSent):
		return false, false, errBroken
	case err != nil:
		return false, true, fmt.Errorf("%w: %w", errBroken, err)
	}
	a := r.answer
	if a.Kind == "" {
		return a.Yes, true, nil
	}
	base := kindError(a.Kind)
	if base == nil {
		base = fmt.Errorf("daemon error %q", a.Kind)
	}
	if a.Message != "" {
		return false, true, fmt.Errorf("%w (daemon: %s)", base, a.Message)
	}
	return false, true, base
}

// reply is one answer line: parsed, and raw (after the id) for status.
type reply struct {
	answer framing.NativeAnswer
	raw    string
}

// errNotSent marks a connection that broke before the request was written.
var errNotSent = errors.New("not sent")

// exchange writes line, whose id is key, and waits for the answer with that
// id. A broken connection is an error wrapping errBroken (and errNotSent if
// nothing was written); the context's end is returned as an error that
// does not.
func (s *session) exchange(ctx context.Context, key string, line []byte) (reply, error) {
	ch := make(chan reply, 1)
	s.mu.Lock()
	if s.dead != nil {
		s.mu.Unlock()
		return reply{}, errNotSent
	}
	s.pending[key] = ch
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.pending, key)
		s.mu.Unlock()
	}()

	s.wmu.Lock()
	deadline, _ := ctx.Deadline()
	s.nc.SetWriteDeadline(deadline)
	n, werr := s.nc.Write(line)
	s.wmu.Unlock()
	if werr != nil {
		// A partial write leaves the stream unusable.
		s.close(werr)
		if n == 0 {
			return reply{}, errNotSent
		}
		return reply{}, werr
	}
	select {
	case r, ok := <-ch:
		if !ok {
			return reply{}, errors.New("connection lost before the answer")
		}
		return r, nil
	case <-ctx.Done():
		err := ctx.Err()
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%w: %w", ErrTimeout, err)
		}
		return reply{}, ctxError{err}
	}
}

// ctxError is the caller's context ending: not a broken connection.
type ctxError struct{ error }

func (e ctxError) Unwrap() error { return e.error }

func (s *session) readLoop() {
	defer close(s.done)
	br := bufio.NewReader(s.nc)
	for {
		line, err := framing.ReadLine(br)
		if err != nil {
			s.close(err)
			return
		}
		var r reply
		id, rest, _ := strings.Cut(string(line), " ")
		if raw, ok := strings.CutPrefix(rest, "status "); ok {
			r.raw = "status " + raw
		} else if r.answer, err = framing.ParseNativeAnswer(line); err != nil {
			s.close(err) // not a daemon we understand
			return
		}
		s.mu.Lock()
		ch := s.pending[id]
		delete(s.pending, id)
		s.mu.Unlock()
		if ch != nil {
			ch <- r
		}
	}
}

// close ends the session for why, failing every request waiting on it.
// It does not wait for the reader, which may be the caller.
func (s *session) close(why error) {
	s.mu.Lock()
	if s.dead == nil {
		s.dead = why
		for id, ch := range s.pending {
			close(ch)
			delete(s.pending, id)
		}
	}
	s.mu.Unlock()
	s.nc.Close()
}
