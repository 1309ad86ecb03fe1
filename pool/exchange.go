package pool

import (
	"time"

	"github.com/authpool/authpool/framing"
	"github.com/authpool/authpool/ptyproc"
)

// Exchanger asks one helper process one request at a time, the way the
// pool does: it writes the request whole and reads exactly one answer,
// both by a deadline. Output beyond that one answer, in the same read,
// fails the exchange with ErrProtocol; a deadline missed fails it with
// ErrTimeout, a helper gone with ErrHelperExited: the pool's sentinel
// errors, which result.Kind names. After any error the helper is out of
// step and must not be asked again.
//
// It is the pool's own exchange without the pool around it: no check for
// output written while the helper was idle, no confirmation of a yes, no
// caller to interrupt it, no retry and no replacement. bench's bare loop
// and dispatcher use it as it is, so that they measure the same exchange
// as the pool and classify its errors the same way.
//
// An Exchanger is not safe for concurrent use. Its buffers are reused: a
// request's bytes, password included, are wiped once written.
type Exchanger struct {
	proc  *ptyproc.Process
	proto framing.Protocol
	dec   framing.AnswerDecoder
	wbuf  []byte
	rbuf  []byte
}

// NewExchanger returns an Exchanger for proc, whose helper speaks proto.
func NewExchanger(proc *ptyproc.Process, proto framing.Protocol) *Exchanger {
	e := new(Exchanger)
	e.init(proc, proto)
	return e
}

func (e *Exchanger) init(proc *ptyproc.Process, proto framing.Protocol) {
	e.proc, e.proto = proc, proto
	e.dec.Protocol = proto
	if e.rbuf == nil {
		// Reads from a raw pty come in chunks of at most 4095 bytes.
		e.rbuf = make([]byte, 4096)
	}
}

// Exchange encodes req, writes it and reads its answer, all by deadline.
// A request the protocol cannot carry fails with ErrBadRequest before
// anything is written.
func (e *Exchanger) Exchange(req framing.Request, deadline time.Time) (bool, error) {
	if err := e.begin(deadline); err != nil {
		return false, err
	}
	if err := e.send(req); err != nil {
		return false, err
	}
	return e.readAnswer()
}

// ExchangeEncoded is Exchange for a request already encoded in the
// helper's protocol, such as a line a relay passes through.
func (e *Exchanger) ExchangeEncoded(request []byte, deadline time.Time) (bool, error) {
	if err := e.begin(deadline); err != nil {
		return false, err
	}
	if err := e.write(request); err != nil {
		return false, err
	}
	return e.readAnswer()
}

// begin readies the exchange: a fresh decoder, and deadline on both the
// write and the read.
func (e *Exchanger) begin(deadline time.Time) error {
	e.dec.Reset()
	if err := e.proc.SetDeadline(deadline); err != nil {
		return ioError(err)
	}
	return nil
}

// send encodes req and writes it. The request, password included, is the
// helper's once written: no copy of it stays in the buffer.
func (e *Exchanger) send(req framing.Request) error {
	var err error
	if e.wbuf, err = e.proto.AppendRequest(e.wbuf[:0], req); err != nil {
		return err
	}
	err = e.write(e.wbuf)
	clear(e.wbuf)
	return err
}

// write writes b whole.
func (e *Exchanger) write(b []byte) error {
	if _, err := e.proc.Write(b); err != nil {
		return ioError(err)
	}
	return nil
}

// readAnswer reads one answer within the read deadline already set.
func (e *Exchanger) readAnswer() (bool, error) {
	for {
		n, err := e.proc.Read(e.rbuf)
		if n > 0 {
			used, yes, done, perr := e.dec.Feed(e.rbuf[:n])
			if perr != nil {
				return false, perr
			}
			if done {
				if used < n {
					// A second answer, or junk, in the same read: the helper
					// is out of step, and which answer is honest cannot be
					// known, so neither is delivered.
					return false, &outOfStep{what: stepExtra, n: n - used}
				}
				return yes, nil
			}
		}
		if err != nil {
			return false, ioError(err)
		}
	}
}
