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
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authpool/authpool/framing"
)

// conn is one client connection. Its reader goroutine owns it: it reads
// requests, starts them, and, once the client stops sending, waits for
// them and closes the connection.
//
// A request the reader finds alone (nothing in flight, nothing more from
// the client in its buffer) runs in the reader itself, as a relay would:
// a caller that asks one question at a time, as XMPP servers and authpool
// connect do, costs no goroutine and no hand-off. If it runs longer than
// takeOverAfter, the takeover timer's goroutine becomes the reader, so
// that a request sent meanwhile is read and started at once, and the old
// reader ends with its request. Any other request runs in a goroutine of
// its own, so that pipelined requests run concurrently, up to MaxPipeline.
// Native answers, which carry their request's id, are written as soon as
// they are ready; ordered answers (generic lines, ejabberd frames) wait in
// order, and whichever request completes the oldest writes every answer
// that is then due.
type conn struct {
	s      *Server
	nc     net.Conn
	cd     codec
	log    *slog.Logger
	ctx    context.Context // every request's; ends when the connection is closed
	cancel context.CancelFunc
	br     *bufio.Reader

	takeover *time.Timer   // runs takeOver; armed while the reader runs a request
	inline   atomic.Bool   // the reader runs a request, and no one has taken over
	stopping atomic.Bool   // read no more requests
	slots    chan struct{} // one per request running on its own or waiting to be written
	reqs     sync.WaitGroup

	// ready counts answers in hand and about to be written: the writer
	// that brings it to zero flushes, so answers that are ready together
	// leave in one write and none waits behind a slow one.
	ready atomic.Int32

	mu      sync.Mutex // guards what follows, and writes to nc
	bw      *bufio.Writer
	broken  bool    // a write failed: answers are dropped
	holding bool    // the reader is handing out requests that came together: it flushes before it waits
	order   []*call // ordered answers owed, oldest first, from order[head]
	head    int
	free    []*call // calls already written, for reuse
	scratch []byte  // the answer being encoded
}

// testHookHandled, set by tests before a server starts, runs in the reader
// after each request it has read.
var testHookHandled func(*conn)

// call is a request that does not run in the reader, and its answer.
type call struct {
	req   framing.Request
	yes   bool
	err   error
	done  bool // answered (ordered calls; guarded by conn.mu)
	idLen int8 // native: the id is idBuf[:idLen]; 0 for an ordered request
	idBuf [framing.MaxIDLen]byte
}

func (cl *call) id() []byte { return cl.idBuf[:cl.idLen] }

// native reports whether cl is a native request: ids are never empty.
func (cl *call) native() bool { return cl.idLen > 0 }

func newConn(s *Server, nc net.Conn, cd codec) *conn {
	c := &conn{
		s:     s,
		nc:    nc,
		cd:    cd,
		log:   s.log.With("conn", s.connID.Add(1)),
		slots: make(chan struct{}, s.cfg.MaxPipeline),
		bw:    bufio.NewWriter(nc),
	}
	c.br = bufio.NewReaderSize(nc, 4096)
	c.takeover = time.AfterFunc(time.Hour, c.takeOver)
	c.takeover.Stop() // armed by dispatch
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c
}

// stopReading makes the reader end as if the client had stopped sending.
// The flag covers a reader about to set its own read deadline: it checks
// the flag after setting it.
func (c *conn) stopReading() {
	c.stopping.Store(true)
	c.nc.SetReadDeadline(time.Now())
}

// abandon closes the connection and ends its requests at once. Closed
// first, so that no request ended here is answered: the client sees the
// connection close, not an answer for a request that was never asked.
func (c *conn) abandon() {
	c.nc.Close()
	c.cancel()
}

// takeOverAfter is how long a request may run in the reader before
// another goroutine takes over reading the connection: the longest a
// request that arrives meanwhile waits to be read.
const takeOverAfter = 5 * time.Millisecond

// serve runs the connection's first reader.
func (c *conn) serve() {
	if c.read() {
		c.end()
	}
}

// takeOver makes the goroutine of the takeover timer the connection's
// reader, if the reader is still running a request (the timer may fire
// late, after the request, or while it runs a later one).
func (c *conn) takeOver() {
	// The reader let go of the buffer before it stored true: what it did
	// happens before what this one does.
	if !c.inline.CompareAndSwap(true, false) {
		return
	}
	if c.read() {
		c.end()
	}
}

// end is the last reader's: once the client stops sending, the connection
// fails, or Shutdown, it waits for the requests it started, then closes
// the connection.
func (c *conn) end() {
	c.takeover.Stop()
	c.release()
	c.reqs.Wait()
	c.nc.Close()
	c.cancel()
	c.s.remove(c)
	c.s.wg.Done()
}

// read reads requests and starts them until the connection ends (it
// returns true, and the caller ends it) or, while it runs one itself, it
// hands reading over to another goroutine (false).
func (c *conn) read() bool {
	timeout := c.s.cfg.ClientTimeout
	for {
		if wait := !c.cd.whole(c.br); wait {
			// The read may wait for the client: answers held must not,
			// and the wait is bounded.
			if c.holding {
				// Requests just started that answer at once do so first,
				// and leave in one write.
				runtime.Gosched()
				c.release()
			}
			if timeout > 0 {
				c.nc.SetReadDeadline(time.Now().Add(timeout))
			}
		}
		if c.stopping.Load() {
			return true
		}
		id, payload, n, err := c.cd.read(c.br)
		if timeout > 0 && errors.Is(err, os.ErrDeadlineExceeded) && !c.stopping.Load() {
			if len(payload) == 0 && len(c.slots) > 0 {
				continue // waiting for its answers is not idling
			}
			if len(payload) > 0 {
				c.log.Info("closing a client that stalled mid-request", "after", timeout, "bytes", len(payload))
			} else {
				c.log.Debug("closing an idle client", "after", timeout)
			}
			return true
		}
		if err != nil && !errors.Is(err, framing.ErrBadRequest) {
			if !errors.Is(err, io.EOF) && !c.stopping.Load() && !errors.Is(err, net.ErrClosed) {
				c.log.Debug("read ended", "err", err)
			}
			return true
		}
		cl, alone, ok := c.handle(id, payload, n, err)
		if n > 0 {
			c.br.Discard(n)
		}
		if !ok {
			return true
		}
		if cl != nil && !c.dispatch(cl, alone) {
			return false
		}
		if testHookHandled != nil {
			testHookHandled(c)
		}
	}
}

// handle answers a request read that needs no pool (a refusal, a status
// request), or makes the call that will run it: payload, and id for a
// native request, may lie in the read buffer and are valid until n bytes
// are discarded from it. alone says that nothing else is in flight or
// waiting in the buffer. It returns ok false when the connection is being
// closed.
//
// What a request allocates on this path (BenchmarkRoundTrip and friends):
// the three strings of framing.Request (user, server, password), which
// ParseRequest copies out of the buffer so that the buffer can be wiped;
// and, for one that runs in a goroutine of its own, its closure, and its
// call while more run at once than the connection keeps for reuse. Nothing
// else: answers are encoded into a buffer the connection keeps, and a debug
// line is built only when debug is on. A takeover adds a goroutine.
func (c *conn) handle(id, payload []byte, n int, readErr error) (cl *call, alone, ok bool) {
	native := id != nil
	if native && readErr == nil && string(payload) == "status" {
		c.writeStatus(id)
		return nil, false, true
	}
	var r framing.Request
	err := readErr
	if err == nil {
		var client netip.Addr
		if native {
			// The address of the client the caller serves, never this
			// connection's peer (that is the XMPP server).
			var rest []byte
			if client, rest, err = framing.CutNativeClient(payload); err != nil {
				clear(payload) // it may hold a password all the same
			}
			payload = rest
		}
		if err == nil {
			r, err = c.parse(payload)
			r.Client = client
		}
	}
	if err != nil {
		c.logResult(r, false, err)
		if native {
			c.write(id, false, err)
			return nil, false, true
		}
		return nil, false, c.refuseOrdered(r, err)
	}
	alone = len(c.slots) == 0 && c.br.Buffered() <= n
	if !c.acquire() {
		return nil, false, false
	}
	c.mu.Lock()
	cl = c.newCallLocked()
	cl.req = r
	if native {
		cl.idLen = int8(copy(cl.idBuf[:], id))
	} else {
		c.order = append(c.order, cl)
	}
	c.holding = c.holding || c.br.Buffered() > n
	c.mu.Unlock()
	return cl, alone, true
}

// dispatch runs cl: in a goroutine of its own, or, when it is alone, in
// the reader, as a relay would, costing no goroutine. A request run in
// the reader that takes longer than takeOverAfter has another goroutine
// take over reading, so that a request sent meanwhile is not held back
// by it; dispatch then returns false, and the reader ends with cl.
func (c *conn) dispatch(cl *call, alone bool) bool {
	c.reqs.Add(1)
	if !alone {
		go c.run(cl) // allocates the goroutine's closure
		return true
	}
	c.release() // answers held must not wait for this one
	// Whichever swaps inline back to false reads on: this reader when cl
	// is done, or takeOver when the timer fires first.
	c.inline.Store(true)
	c.takeover.Reset(takeOverAfter)
	c.run(cl)
	if !c.inline.CompareAndSwap(true, false) {
		return false
	}
	c.takeover.Stop()
	return true
}

// parse parses one request and wipes its payload, which holds the
// password: the read buffer's bytes, or the copy a long request was read
// into (docs/SECURITY.md).
func (c *conn) parse(payload []byte) (framing.Request, error) {
	req, err := framing.ParseRequest(payload)
	if err != nil {
		// The operation alone, for the log: which kind of request a
		// refused line was, never its fields.
		word, _, _ := bytes.Cut(payload, []byte{':'})
		req = framing.Request{}
		req.Op, _ = framing.ParseOp(string(word))
	}
	clear(payload)
	return req, err
}

// acquire takes a place for one more request running on its own; a client
// that pipelines more than MaxPipeline requests is simply read more
// slowly. It returns false when the connection is being closed.
func (c *conn) acquire() bool {
	select {
	case c.slots <- struct{}{}:
		return true
	default:
	}
	if c.holding {
		c.release() // the answers it waits for may be among those held
	}
	select {
	case c.slots <- struct{}{}:
		return true
	case <-c.ctx.Done():
		return false
	}
}

// run runs a request on its own and writes its answer: a native one's at
// once, an ordered one's with every answer then due.
func (c *conn) run(cl *call) {
	defer c.reqs.Done()
	yes, err := c.s.cfg.Pool.Do(c.ctx, cl.req)
	c.logResult(cl.req, yes, err)
	c.ready.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ready.Add(-1)
	if !cl.native() {
		cl.yes, cl.err, cl.done = yes, err, true
		c.writeOrderedLocked()
		return
	}
	c.encodeLocked(cl.id(), yes, err)
	c.freeLocked(cl)
	<-c.slots // before the flush: a client that asks again at once finds none in flight
	c.flushLocked()
}

// refuseOrdered answers a request refused before it ran: at once if no
// earlier ordered answer is owed, else in its place in the order.
func (c *conn) refuseOrdered(r framing.Request, err error) bool {
	c.mu.Lock()
	if c.head == len(c.order) {
		c.encodeLocked(nil, false, err)
		c.flushLocked()
		c.mu.Unlock()
		return true
	}
	c.mu.Unlock()
	if !c.acquire() {
		return false
	}
	c.mu.Lock()
	cl := c.newCallLocked()
	cl.req, cl.err, cl.done = r, err, true
	c.order = append(c.order, cl)
	c.writeOrderedLocked() // the ones before it may all have been written meanwhile
	c.mu.Unlock()
	return true
}

// newCallLocked returns a call for a request that runs on its own: one
// already answered, or a new one. Callers hold c.mu.
func (c *conn) newCallLocked() *call {
	if n := len(c.free); n > 0 {
		cl := c.free[n-1]
		c.free = c.free[:n-1]
		return cl
	}
	return new(call) // an allocation, only while more run at once than ever before (up to maxFree)
}

// maxFree bounds the calls a connection keeps for reuse: enough for a
// client that pipelines steadily, little for one that sent a burst once.
const maxFree = 16

// freeLocked keeps an answered call for reuse, without its request (the
// password goes with it). Callers hold c.mu.
func (c *conn) freeLocked(cl *call) {
	*cl = call{}
	if len(c.free) < maxFree {
		c.free = append(c.free, cl)
	}
}

// writeOrderedLocked writes every answered call at the head of the order
// and frees their places. Callers hold c.mu.
func (c *conn) writeOrderedLocked() {
	for c.head < len(c.order) && c.order[c.head].done {
		cl := c.order[c.head]
		c.order[c.head] = nil
		c.head++
		c.encodeLocked(nil, cl.yes, cl.err)
		c.freeLocked(cl)
		<-c.slots
	}
	if c.head == len(c.order) {
		c.order, c.head = c.order[:0], 0 // the same array, from its start
	}
	c.flushLocked()
}

// write writes one answer the reader has in hand (native, or ordered with
// nothing owed before it).
func (c *conn) write(id []byte, yes bool, err error) {
	c.mu.Lock()
	c.encodeLocked(id, yes, err)
	c.flushLocked()
	c.mu.Unlock()
}

// writeStatus answers a native status request.
func (c *conn) writeStatus(id []byte) {
	st := c.status()
	c.mu.Lock()
	if !c.broken {
		c.scratch = append(append(append(append(c.scratch[:0], id...), " status "...), st...), '\n')
		c.bw.Write(c.scratch)
	}
	c.flushLocked()
	c.mu.Unlock()
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

// encodeLocked buffers one answer. Callers hold c.mu.
func (c *conn) encodeLocked(id []byte, yes bool, err error) {
	if c.broken {
		return
	}
	c.scratch = c.cd.appendAnswer(c.scratch[:0], id, yes, err)
	c.bw.Write(c.scratch)
}

// release ends holding, and flushes what was held.
func (c *conn) release() {
	c.mu.Lock()
	c.holding = false
	c.flushLocked()
	c.mu.Unlock()
}

// flushLocked writes what is buffered, unless the reader is holding the
// flush or another answer is in hand and its writer will flush. Callers
// hold c.mu.
func (c *conn) flushLocked() {
	if c.broken || c.holding || c.ready.Load() > 0 || c.bw.Buffered() == 0 {
		return
	}
	c.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.WriteTimeout))
	if err := c.bw.Flush(); err != nil {
		c.log.Debug("write failed", "err", err)
		c.broken = true
		c.stopReading()
	}
}

// logResult logs one request's outcome: refusals by the rule they broke,
// failures by their error, answers at debug level only.
func (c *conn) logResult(r framing.Request, yes bool, err error) {
	switch {
	case errors.Is(err, framing.ErrBadRequest) && r.User == "":
		// Refused before it parsed: its operation, if it had one, and the
		// rule it broke.
		op := "none"
		if r.Op != 0 {
			op = r.Op.String()
		}
		c.log.Info("request refused", "op", op, "rule", err)
	case errors.Is(err, framing.ErrBadRequest):
		c.log.Info("request refused", "request", r, "rule", err)
	case err != nil:
		c.log.Warn("request failed", "request", r, "err", err)
	case c.log.Enabled(c.ctx, slog.LevelDebug):
		// Checked first: the arguments would cost an allocation per
		// request even when nothing is logged.
		c.log.Debug("request answered", "request", r, "answer", yes)
	}
}
