package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authpool/authpool/framing"
	"github.com/authpool/authpool/result"
)

// conn is one client connection. readLoop parses requests and starts them;
// answers owed in order (generic lines, ejabberd frames) go through ordered
// to writeLoop, while native answers, which carry their request's id, are
// written by their own goroutine as soon as they are ready.
type conn struct {
	s      *Server
	nc     net.Conn
	cd     codec
	id     uint64
	log    *slog.Logger
	ctx    context.Context // ends when the connection is closed
	cancel context.CancelFunc

	slots   chan struct{} // one per request read and not yet answered
	ordered chan call     // answers owed in request order
	natives sync.WaitGroup

	// ready counts native answers in hand and about to be written: the
	// writer that brings it to zero flushes.
	ready atomic.Int32

	wmu    sync.Mutex // guards bw and broken, and writes to nc
	bw     *bufio.Writer
	broken bool // a write failed: answers are dropped
}

// call is a request read, and where its answer will come.
type call struct {
	id     []byte          // native request id; nil for ordered answers
	req    framing.Request // zero when refused before parsing
	res    <-chan result.Result
	status []byte // the answer to a native status request
}

func newConn(s *Server, nc net.Conn, cd codec) *conn {
	c := &conn{
		s:       s,
		nc:      nc,
		cd:      cd,
		id:      s.connID.Add(1),
		slots:   make(chan struct{}, s.cfg.MaxPipeline),
		ordered: make(chan call, s.cfg.MaxPipeline),
		bw:      bufio.NewWriter(nc),
	}
	c.log = s.log.With("conn", c.id)
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c
}

// stopReading makes readLoop end as if the client had stopped sending.
func (c *conn) stopReading() {
	c.nc.SetReadDeadline(time.Now())
}

func (c *conn) readLoop() {
	defer c.s.wg.Done()
	defer close(c.ordered)
	br := bufio.NewReaderSize(c.nc, 4096)
	for {
		if c.s.cfg.ClientTimeout > 0 {
			c.nc.SetReadDeadline(time.Now().Add(c.s.cfg.ClientTimeout))
		}
		id, payload, err := c.cd.read(br)
		if c.s.cfg.ClientTimeout > 0 && errors.Is(err, os.ErrDeadlineExceeded) && !c.s.isClosed() {
			if len(payload) == 0 && len(c.slots) > 0 {
				continue // waiting for its answers is not idling
			}
			if len(payload) > 0 {
				c.log.Info("closing a client that stalled mid-request", "after", c.s.cfg.ClientTimeout, "bytes", len(payload))
			} else {
				c.log.Debug("closing an idle client", "after", c.s.cfg.ClientTimeout)
			}
			return
		}
		if err != nil && !errors.Is(err, framing.ErrBadRequest) {
			if !errors.Is(err, io.EOF) && !c.s.isClosed() && !errors.Is(err, net.ErrClosed) {
				c.log.Debug("read ended", "err", err)
			}
			return
		}
		// Wait for a free place: a client that pipelines more than
		// MaxPipeline requests is simply read more slowly.
		select {
		case c.slots <- struct{}{}:
		case <-c.ctx.Done():
			return
		}
		cl := call{id: id}
		switch {
		case err != nil:
			cl.res = failed(err)
		case id != nil && string(payload) == "status":
			cl.status = c.status()
			cl.res = answered()
		default:
			cl.req, cl.res = c.submit(payload)
		}
		if id == nil {
			c.ordered <- cl
			continue
		}
		c.natives.Add(1)
		go func() {
			defer c.natives.Done()
			r := <-cl.res
			c.ready.Add(1)
			c.finish(cl, r, false, true)
		}()
	}
}

// submit parses and starts one request.
func (c *conn) submit(payload []byte) (framing.Request, <-chan result.Result) {
	req, err := framing.ParseRequest(payload)
	if err != nil {
		// The operation alone, for the log: which kind of request a
		// refused line was, never its fields.
		word, _, _ := bytes.Cut(payload, []byte{':'})
		req = framing.Request{}
		req.Op, _ = framing.ParseOp(string(word))
	}
	// req holds its own copy of the password; this one would stay in the
	// heap until reused (docs/SECURITY.md).
	clear(payload)
	if err != nil {
		return req, failed(err)
	}
	res, err := c.s.cfg.Pool.Submit(c.ctx, req)
	if err != nil {
		return req, failed(err)
	}
	return req, res
}

// status renders Config.Status as one line of JSON.
func (c *conn) status() []byte {
	if c.s.cfg.Status == nil {
		return []byte(`{"error":"no status"}`)
	}
	b, err := json.Marshal(c.s.cfg.Status())
	if err != nil {
		return []byte(`{"error":"status failed"}`)
	}
	return b // json.Marshal never writes a line end
}

func answered() <-chan result.Result {
	ch := make(chan result.Result, 1)
	ch <- result.Result{}
	return ch
}

func failed(err error) <-chan result.Result {
	ch := make(chan result.Result, 1)
	ch <- result.Result{Err: err}
	return ch
}

func (c *conn) writeLoop() {
	defer c.s.wg.Done()
	defer c.s.remove(c)
	defer c.nc.Close()
	defer c.cancel()
	var q orderedQueue
	q.ch = c.ordered
	for {
		cl, ok := q.next()
		if !ok {
			break
		}
		r := <-cl.res
		c.finish(cl, r, q.nextReady(), false)
	}
	c.natives.Wait()
}

// orderedQueue reads c.ordered with one call of look-ahead, so the writer
// can tell whether the next answer is already there and hold the flush.
type orderedQueue struct {
	ch     <-chan call
	held   call
	isHeld bool
	closed bool
}

func (q *orderedQueue) next() (call, bool) {
	if q.isHeld {
		q.isHeld = false
		return q.held, true
	}
	if q.closed {
		return call{}, false
	}
	cl, ok := <-q.ch
	return cl, ok
}

// nextReady reports whether the next ordered answer can be written at once.
func (q *orderedQueue) nextReady() bool {
	if !q.isHeld && !q.closed {
		select {
		case cl, ok := <-q.ch:
			if !ok {
				q.closed = true
				return false
			}
			q.held, q.isHeld = cl, true
		default:
			return false
		}
	}
	return q.isHeld && len(q.held.res) > 0
}

// finish logs one request's result and writes its answer. The buffer is
// flushed unless another answer is about to follow (more, or a native
// answer in hand), so a pipelining client gets its answers in few writes
// and none waits behind a slow one.
func (c *conn) finish(cl call, r result.Result, more, native bool) {
	switch {
	case errors.Is(r.Err, framing.ErrBadRequest) && cl.req.User == "":
		// Refused before it parsed: its operation, if it had one, and the
		// rule it broke.
		op := "none"
		if cl.req.Op != 0 {
			op = cl.req.Op.String()
		}
		c.log.Info("request refused", "op", op, "rule", r.Err)
	case errors.Is(r.Err, framing.ErrBadRequest):
		c.log.Info("request refused", "request", cl.req, "rule", r.Err)
	case r.Err != nil:
		c.log.Warn("request failed", "request", cl.req, "err", r.Err)
	default:
		c.log.Debug("request answered", "request", cl.req, "answer", r.OK)
	}
	c.wmu.Lock()
	defer func() { <-c.slots }()
	defer c.wmu.Unlock()
	if native {
		c.ready.Add(-1)
	}
	if c.broken {
		return
	}
	if cl.status != nil {
		c.bw.Write(append(append(append(cl.id, " status "...), cl.status...), '\n'))
	} else {
		c.bw.Write(c.cd.appendAnswer(nil, cl.id, r))
	}
	if more || c.ready.Load() > 0 {
		return
	}
	c.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.WriteTimeout))
	if err := c.bw.Flush(); err != nil {
		c.log.Debug("write failed", "err", err)
		c.broken = true
		c.stopReading()
	}
}
