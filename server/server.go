package server

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authpool/authpool/framing"
	"github.com/authpool/authpool/pool"
)

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("server: closed")

// Submitter runs requests; *pool.Pool is one.
type Submitter interface {
	Submit(ctx context.Context, req framing.Request) (<-chan pool.Result, error)
}

// Config configures a Server. Pool is required; every zero value has the
// default its comment gives.
type Config struct {
	// Pool answers the requests.
	Pool Submitter
	// Logger receives events; nil discards them. Passwords are never
	// logged.
	Logger *slog.Logger
	// MaxPipeline bounds how many requests of one connection run at once;
	// a client that sends more waits for answers. Zero means 128.
	MaxPipeline int
	// WriteTimeout bounds writing an answer to a client that does not read;
	// zero means 10s.
	WriteTimeout time.Duration
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
	wg        sync.WaitGroup // one per connection goroutine pair

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
	return &Server{
		cfg:       cfg,
		log:       cfg.Logger,
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[*conn]struct{}),
	}, nil
}

// Serve accepts connections on l until Shutdown or Close, which make it
// return ErrServerClosed; l is closed when Serve returns.
func (s *Server) Serve(l net.Listener) error {
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

	var backoff time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.isClosed() {
				return ErrServerClosed
			}
			if isResourceShortage(err) {
				// Out of descriptors and the like: wait rather than spin.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("accept failed; retrying", "err", err, "in", backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		s.start(nc)
	}
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *Server) start(nc net.Conn) {
	c := &conn{
		s:       s,
		nc:      nc,
		id:      s.connID.Add(1),
		pending: make(chan call, s.cfg.MaxPipeline),
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		nc.Close()
		c.cancel()
		return
	}
	s.conns[c] = struct{}{}
	s.wg.Add(2)
	s.mu.Unlock()
	go c.readLoop()
	go c.writeLoop()
}

// Shutdown stops accepting connections and reading requests, lets every
// request already read be answered, then closes the connections. If ctx ends
// first, the connections are closed at once and ctx's error is returned.
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
		s.closeConns()
		<-done
		return ctx.Err()
	}
}

// Close closes the listeners and every connection at once.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	for l := range s.listeners {
		l.Close()
	}
	s.mu.Unlock()
	s.closeConns()
	s.wg.Wait()
	return nil
}

func (s *Server) closeConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.cancel()
		c.nc.Close()
	}
}

func (s *Server) remove(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// conn is one client connection: readLoop parses requests and starts them,
// writeLoop answers them in order.
type conn struct {
	s       *Server
	nc      net.Conn
	id      uint64
	ctx     context.Context // ends when the connection is closed
	cancel  context.CancelFunc
	pending chan call // answers owed, in request order
}

// call is a request read and the place its answer will come.
type call struct {
	req framing.Request // zero when refused before parsing
	res <-chan pool.Result
}

// stopReading makes readLoop end as if the client had stopped sending.
func (c *conn) stopReading() {
	c.nc.SetReadDeadline(time.Now())
}

// maxLine is the longest request line read: the longest payload plus CRLF.
const maxLine = framing.MaxPayload + 2

func (c *conn) readLoop() {
	defer c.s.wg.Done()
	defer close(c.pending)
	log := c.s.log.With("conn", c.id)
	br := bufio.NewReaderSize(c.nc, 4096)
	for {
		line, err := readLine(br)
		if errors.Is(err, errLineTooLong) {
			log.Info("request refused", "err", err)
			c.pending <- call{res: answered(false)}
			continue
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !c.s.isClosed() && !errors.Is(err, net.ErrClosed) {
				log.Debug("read ended", "err", err)
			}
			return
		}
		c.pending <- c.submit(line, log)
	}
}

// submit starts one request.
func (c *conn) submit(line []byte, log *slog.Logger) call {
	req, err := framing.ParseRequest(line)
	if err != nil {
		log.Info("request refused", "err", err)
		return call{res: answered(false)}
	}
	res, err := c.s.cfg.Pool.Submit(c.ctx, req)
	if err != nil {
		res = failed(err)
	}
	return call{req: req, res: res}
}

func failed(err error) <-chan pool.Result {
	ch := make(chan pool.Result, 1)
	ch <- pool.Result{Err: err}
	return ch
}

func answered(yes bool) <-chan pool.Result {
	ch := make(chan pool.Result, 1)
	ch <- pool.Result{OK: yes}
	return ch
}

func (c *conn) writeLoop() {
	defer c.s.wg.Done()
	defer c.s.remove(c)
	defer c.nc.Close()
	defer c.cancel()
	log := c.s.log.With("conn", c.id)
	bw := bufio.NewWriter(c.nc)
	broken := false
	for cl := range c.pending {
		r := <-cl.res
		switch {
		case errors.Is(r.Err, framing.ErrBadRequest):
			log.Info("request refused", "request", cl.req, "err", r.Err)
		case r.Err != nil:
			log.Warn("request failed", "request", cl.req, "err", r.Err)
		default:
			log.Debug("request answered", "request", cl.req, "answer", r.OK)
		}
		if broken {
			continue // keep draining so readLoop never blocks
		}
		if r.OK {
			bw.WriteString("1\n")
		} else {
			bw.WriteString("0\n")
		}
		// Flush only when no further answer is ready: a pipelining client
		// gets its answers in few writes.
		if len(c.pending) == 0 {
			c.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.WriteTimeout))
			if err := bw.Flush(); err != nil {
				log.Debug("write failed", "err", err)
				broken = true
				c.stopReading()
			}
		}
	}
}
