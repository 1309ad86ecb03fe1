package client

import (
	"bufio"
	"context"
	"crypto/tls"
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
	// ErrConnection: no daemon could be reached, or the connection broke
	// before the request was written; it was sent nowhere.
	ErrConnection = errors.New("cannot reach the authpool daemon")
	// ErrAnswerLost: the connection broke after the request was written
	// and before its answer. The daemon may have acted on it (asked a
	// helper, counted a failed login), so it was not sent again.
	ErrAnswerLost = errors.New("connection lost after the request was sent; not sent again")
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

// Config configures a Client. Socket or Endpoints is required.
type Config struct {
	// Socket is a daemon's Unix socket path: the same as "unix:"+Socket
	// first in Endpoints.
	Socket string
	// Endpoints are daemons to ask, in order of preference: "unix:PATH" or
	// "tls://HOST:PORT" (mutual TLS; TLS is then required). A request goes
	// to the endpoint that answered last, and on to the next only when
	// this one cannot have acted on it (see Do).
	Endpoints []string
	// TLS is the configuration for tls:// endpoints: the client's
	// certificate (Certificates) and the CA of the daemons' certificates
	// (RootCAs); LoadTLS makes one from files. ServerName, when empty,
	// is each endpoint's host.
	TLS *tls.Config
	// DialTimeout bounds making a connection, TLS handshake included;
	// zero means 2s.
	DialTimeout time.Duration
	// Timeout bounds a request whose context has no deadline; zero means
	// 30s.
	Timeout time.Duration
}

// endpoint is one daemon to ask.
type endpoint struct {
	name string // as given, for errors
	net  string // "unix" or "tcp"
	addr string
	tls  *tls.Config // nil for unix
}

// ErrBadEndpoint is an endpoint that does not parse.
var ErrBadEndpoint = errors.New("client: bad endpoint")

func parseEndpoint(s string, base *tls.Config) (endpoint, error) {
	if path, ok := strings.CutPrefix(s, "unix:"); ok && path != "" {
		return endpoint{name: s, net: "unix", addr: path}, nil
	}
	if hp, ok := strings.CutPrefix(s, "tls://"); ok {
		host, _, err := net.SplitHostPort(hp)
		if err != nil || host == "" {
			return endpoint{}, fmt.Errorf("%w %q: want tls://HOST:PORT", ErrBadEndpoint, s)
		}
		if base == nil {
			return endpoint{}, fmt.Errorf("%w %q: a tls:// endpoint needs a client certificate (Config.TLS)", ErrBadEndpoint, s)
		}
		cfg := base.Clone()
		if cfg.ServerName == "" {
			cfg.ServerName = host
		}
		cfg.MinVersion = max(cfg.MinVersion, tls.VersionTLS13)
		return endpoint{name: s, net: "tcp", addr: hp, tls: cfg}, nil
	}
	return endpoint{}, fmt.Errorf("%w %q: want unix:PATH or tls://HOST:PORT", ErrBadEndpoint, s)
}

// Client sends requests to a daemon, one connection per endpoint in use.
// It is safe for concurrent use.
type Client struct {
	cfg    Config
	eps    []endpoint
	dials  []sync.Mutex // one dial at a time per endpoint
	nextID atomic.Uint64

	mu     sync.Mutex
	sess   []*session // per endpoint; nil when not connected
	cur    int        // the endpoint that answered last
	closed bool
}

// New returns a Client for cfg; it connects on first use.
func New(cfg Config) (*Client, error) {
	var names []string
	if cfg.Socket != "" {
		names = append(names, "unix:"+cfg.Socket)
	}
	names = append(names, cfg.Endpoints...)
	if len(names) == 0 {
		return nil, errors.New("client: no endpoint: Config.Socket and Config.Endpoints are empty")
	}
	eps := make([]endpoint, 0, len(names))
	for _, n := range names {
		ep, err := parseEndpoint(n, cfg.TLS)
		if err != nil {
			return nil, err
		}
		eps = append(eps, ep)
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 2 * time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	return &Client{cfg: cfg, eps: eps, dials: make([]sync.Mutex, len(eps)), sess: make([]*session, len(eps))}, nil
}

// Dial returns a Client connected to the daemon at socket.
func Dial(ctx context.Context, socket string) (*Client, error) {
	c, err := New(Config{Socket: socket})
	if err != nil {
		return nil, err
	}
	if _, err := c.session(ctx, 0); err != nil {
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
//
// With several endpoints, req goes on to the next only when the daemon
// cannot have acted on it: it could not be reached (connection or TLS
// errors, a dial timeout), the connection broke before req was written,
// or it answered with a temporary failure that asks no helper
// (ErrUnavailable, ErrOverloaded, ErrDaemonClosing). Any other answer,
// yes, no or an error, is final. A request that was written and then
// lost (the connection broke, or ctx ended, before its answer) is never
// sent again, to this daemon or another: the daemon may have asked a
// helper and counted a failed login, and asking again would count it
// twice. isuser alone, which changes and counts nothing, is.
func (c *Client) Do(ctx context.Context, req framing.Request) (bool, error) {
	if err := req.Validate(); err != nil {
		return false, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.Timeout)
		defer cancel()
	}
	start := c.current()
	var errs []error
	for k := range len(c.eps) {
		i := (start + k) % len(c.eps)
		yes, err, next := c.doAt(ctx, i, req)
		if !next {
			if err == nil {
				c.setCurrent(i)
			}
			return yes, err
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return false, failed(errs)
}

// doAt asks endpoint i; next says the request may go on to another.
func (c *Client) doAt(ctx context.Context, i int, req framing.Request) (yes bool, err error, next bool) {
	ep := c.eps[i].name
	for attempt := 0; ; attempt++ {
		s, err := c.session(ctx, i)
		if err != nil {
			return false, err, !errors.Is(err, ErrClosed)
		}
		yes, sent, err := s.do(ctx, c.nextID.Add(1), req)
		switch {
		case err == nil:
			return yes, nil, false
		case errors.Is(err, errBroken):
			c.drop(i, s)
			<-s.done // its reader is gone before the next connection
			if sent && req.Op != framing.OpIsUser {
				return false, fmt.Errorf("%w: %s: %w", ErrAnswerLost, ep, err), false
			}
			// Not written (or harmless to repeat): once more here, as the
			// daemon may have restarted, then the next endpoint.
			if attempt == 0 && ctx.Err() == nil {
				continue
			}
			return false, fmt.Errorf("%w: %s: %w", ErrConnection, ep, err), true
		case temporary(err):
			return false, fmt.Errorf("%s: %w", ep, err), true
		default:
			return false, err, false
		}
	}
}

// temporary reports whether err is an answer that no helper was asked
// for, which another daemon may answer.
func temporary(err error) bool {
	return errors.Is(err, ErrUnavailable) || errors.Is(err, ErrOverloaded) || errors.Is(err, ErrDaemonClosing)
}

// multiError is every endpoint's failure; errors.Is sees each.
type multiError []error

func (m multiError) Error() string {
	parts := make([]string, len(m))
	for i, e := range m {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "; ")
}

func (m multiError) Unwrap() []error { return m }

func failed(errs []error) error {
	if len(errs) == 1 {
		return errs[0]
	}
	return multiError(errs)
}

func (c *Client) current() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur
}

func (c *Client) setCurrent(i int) {
	c.mu.Lock()
	c.cur = i
	c.mu.Unlock()
}

// Status asks a daemon for its status report: one JSON object, as
// "authpool status --json" prints it. It asks the endpoint that answered
// last, or the next that can be reached.
func (c *Client) Status(ctx context.Context) (json.RawMessage, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.Timeout)
		defer cancel()
	}
	start := c.current()
	var errs []error
	for k := range len(c.eps) {
		i := (start + k) % len(c.eps)
		s, err := c.session(ctx, i)
		if err != nil {
			if errors.Is(err, ErrClosed) {
				return nil, err
			}
			errs = append(errs, err)
			continue
		}
		body, err := s.status(ctx, strconv.FormatUint(c.nextID.Add(1), 10))
		if err != nil && !errors.As(err, new(ctxError)) {
			c.drop(i, s)
			err = fmt.Errorf("%w: %s: %w", ErrConnection, c.eps[i].name, err)
		}
		return body, err
	}
	return nil, failed(errs)
}

// status asks s for the status report.
func (s *session) status(ctx context.Context, id string) (json.RawMessage, error) {
	r, err := s.exchange(ctx, id, []byte(id+" status\n"))
	if err != nil {
		return nil, err
	}
	body, ok := strings.CutPrefix(r.raw, "status ")
	if !ok {
		return nil, errors.New("the daemon does not report status")
	}
	return json.RawMessage(body), nil
}

// session returns endpoint i's live connection, making one if needed.
func (c *Client) session(ctx context.Context, i int) (*session, error) {
	c.dials[i].Lock()
	defer c.dials[i].Unlock()
	c.mu.Lock()
	closed, s := c.closed, c.sess[i]
	c.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	if s != nil && !s.isDead() {
		return s, nil
	}
	s, err := c.dial(ctx, c.eps[i])
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		s.close(ErrClosed)
		<-s.done
		return nil, ErrClosed
	}
	c.sess[i] = s
	return s, nil
}

// dial connects to ep. A TLS connection is proved admitted before it is
// used: in TLS 1.3 the client's handshake ends before the daemon has
// checked its certificate, so a refusal would otherwise come only after
// a request was written, which is then never sent elsewhere. A status
// request, which asks no helper, is the proof.
func (c *Client) dial(ctx context.Context, ep endpoint) (*session, error) {
	dctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(dctx, ep.net, ep.addr)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrConnection, ep.name, err)
	}
	if ep.tls == nil {
		return newSession(nc), nil
	}
	tc := tls.Client(nc, ep.tls)
	if err := tc.HandshakeContext(dctx); err != nil {
		nc.Close()
		return nil, tlsError(ep, err)
	}
	s := newSession(tc)
	if _, err := s.status(dctx, "0"); err != nil {
		s.close(err)
		<-s.done
		if dead := s.cause(); dead != nil {
			err = dead
		}
		return nil, tlsError(ep, err)
	}
	return s, nil
}

// ErrCertRefused is a TLS daemon refusing this client's certificate.
var ErrCertRefused = errors.New("the daemon refused this client's certificate (not signed by its --tls-client-ca, or its CN not on --tls-allow-cn)")

// tlsError says what went wrong reaching a TLS endpoint, naming a
// refused certificate as such.
func tlsError(ep endpoint, err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "remote error" {
		return fmt.Errorf("%w: %s: %w: %w", ErrConnection, ep.name, ErrCertRefused, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrConnection, ep.name, err)
}

// drop forgets s if it is still endpoint i's session.
func (c *Client) drop(i int, s *session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sess[i] == s {
		c.sess[i] = nil
	}
}

// Close closes the connections; requests in flight fail with ErrClosed.
// It returns once the connections' readers have stopped.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	ss := c.sess
	c.sess = make([]*session, len(c.eps))
	c.mu.Unlock()
	for _, s := range ss {
		if s != nil {
			s.close(ErrClosed)
			<-s.done
		}
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

// cause is why the session ended; nil while alive.
func (s *session) cause() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dead
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
