package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authpool/authpool/framing"
)

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("server: closed")

// Doer answers requests; *pool.Pool is one, and so is *cache.Cache. The
// server calls Do from the goroutine that serves the request, as net/http
// calls a handler, and many at once. Do must return soon after ctx ends:
// that is how a Shutdown whose context expires, or Close, abandons the
// requests in flight.
type Doer interface {
	Do(ctx context.Context, req framing.Request) (bool, error)
}

// Config configures a Server. Pool is required; every zero value has the
// default its comment gives.
type Config struct {
	// Pool answers the requests.
	Pool Doer
	// Logger receives events; nil discards them. Passwords are never
	// logged.
	Logger *slog.Logger
	// MaxPipeline bounds how many requests of one connection run at once;
	// a client that sends more waits for answers. Zero means 128.
	MaxPipeline int
	// WriteTimeout bounds writing an answer to a client that does not read;
	// zero means 10s.
	WriteTimeout time.Duration
	// ClientTimeout closes a connection that has been silent that long
	// while it owes nothing: one that stalled in the middle of a request, or
	// sat idle. A connection waiting for answers is not idle. Clients that
	// keep a connection open (authpool connect, package client) reconnect
	// by themselves. Zero means 1 minute; negative means never.
	ClientTimeout time.Duration
	// MaxConnections bounds the connections open at once on each of the
	// server's listeners; more are closed as soon as they are accepted, and
	// logged. Zero means 1024.
	MaxConnections int
	// MaxConnectionsPerPeer bounds the connections one peer (a uid, read
	// with SO_PEERCRED) holds at once on each listener, so that one client
	// cannot take every place. Zero means a quarter of MaxConnections.
	MaxConnectionsPerPeer int
	// Budget, when set, bounds the connections of every listener that
	// shares it (see GateConfig.Budget).
	Budget *Budget
	// Status, when set, answers the native "ID status" request with its
	// value as one line of JSON (authpool status uses it).
	Status func() any
	// AllowUIDs and AllowGIDs, when either is set, admit only Unix socket
	// peers whose uid, or primary gid, is listed (checked with SO_PEERCRED
	// on every connection); others are closed at once and logged. Empty
	// means anyone who can open the socket, which its file mode decides.
	AllowUIDs []uint32
	AllowGIDs []uint32

	peer func(net.Conn) (Peer, error) // tests
}

// Server accepts connections and answers their requests. Create it with
// New.
type Server struct {
	cfg Config
	log *slog.Logger

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	closed    bool
	wg        sync.WaitGroup // one per connection's reader

	connID atomic.Uint64
}

// New returns a Server for cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Pool == nil {
		return nil, errors.New("server: Config.Pool is nil")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxPipeline <= 0 {
		cfg.MaxPipeline = 128
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	if cfg.ClientTimeout == 0 {
		cfg.ClientTimeout = time.Minute
	}
	return &Server{
		cfg:       cfg,
		log:       cfg.Logger,
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[*conn]struct{}),
	}, nil
}

// Serve accepts connections on l, whose clients speak the generic line
// protocol or the native protocol (docs/PROTOCOL.md), until Shutdown or
// Close, which make it return ErrServerClosed; l is closed when Serve
// returns. Connections are admitted as Config's access control and limits
// say (see Gate).
func (s *Server) Serve(l net.Listener) error { return s.serve(l, lineCodec{}) }

// ServeEjabberd is Serve for clients that speak ejabberd's extauth framing
// (a 2-byte length before each request, answers 00 02 00 0x), as ejabberd
// itself does when its extauth_program is a socket bridge.
func (s *Server) ServeEjabberd(l net.Listener) error { return s.serve(l, frameCodec{}) }

func (s *Server) serve(nl net.Listener, cd codec) error {
	return s.serveGated(NewGate(nl, GateConfig{
		AllowUIDs:      s.cfg.AllowUIDs,
		AllowGIDs:      s.cfg.AllowGIDs,
		MaxConnections: s.cfg.MaxConnections,
		MaxPerPeer:     s.cfg.MaxConnectionsPerPeer,
		Budget:         s.cfg.Budget,
		Logger:         s.log,
		peer:           s.cfg.peer,
	}), cd, nil)
}

// serveGated serves l; wrap, when set, makes each admitted connection what
// is served (nil: refused, and already closed).
func (s *Server) serveGated(l *Gate, cd codec, wrap func(net.Conn) net.Conn) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
		l.Close()
	}()

	for {
		nc, err := l.Accept()
		if err != nil {
			if s.isClosed() {
				return ErrServerClosed
			}
			return err
		}
		if wrap != nil {
			if nc = wrap(nc); nc == nil {
				continue
			}
		}
		s.start(nc, cd)
	}
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *Server) start(nc net.Conn, cd codec) {
	c := newConn(s, nc, cd)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		c.abandon()
		return
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go c.serve()
}

// Shutdown stops accepting connections and reading requests, lets every
// request already read be answered, then closes the connections. If ctx ends
// first, every request still in flight is abandoned (its context ends, so
// the pool lets go of it at once) and its connection closed unanswered, and
// Shutdown returns ctx's error as soon as the requests have returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	for l := range s.listeners {
		l.Close()
	}
	for c := range s.conns {
		c.stopReading()
	}
	s.mu.Unlock()

	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.abandonConns()
		<-done
		return ctx.Err()
	}
}

// Close closes the listeners and every connection at once, abandoning the
// requests in flight, and returns when their goroutines have.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	for l := range s.listeners {
		l.Close()
	}
	s.mu.Unlock()
	s.abandonConns()
	s.wg.Wait()
	return nil
}

func (s *Server) abandonConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.abandon()
	}
}

func (s *Server) remove(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}
