package server

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"

	"github.com/authpool/authpool/framing"
	"github.com/authpool/authpool/result"
)

// codec is how one listener's clients frame requests and answers.
type codec interface {
	// read returns the next request's payload and, for a native request,
	// its id. Both may lie in br's buffer: they are valid, and may be
	// written to, until the caller discards n bytes from br, which it
	// must do before reading again. A request that does not fit in the
	// buffer whole is copied out of it instead (n is then 0).
	//
	// An error wrapping framing.ErrBadRequest refuses one request and the
	// connection goes on; any other ends the connection, and comes with
	// what was read of an unfinished request, if anything.
	read(br *bufio.Reader) (id, payload []byte, n int, err error)
	// whole reports whether a whole request is in br's buffer, so that
	// read would not wait.
	whole(br *bufio.Reader) bool
	// appendAnswer encodes the answer to the request with id.
	appendAnswer(dst, id []byte, yes bool, err error) []byte
}

// fill waits until br holds at least one byte, unless it already does.
func fill(br *bufio.Reader) error {
	if br.Buffered() > 0 {
		return nil
	}
	_, err := br.Peek(1)
	return err
}

// lineCodec reads generic lines and native (id-prefixed) lines on the same
// connection.
type lineCodec struct{}

func (lineCodec) read(br *bufio.Reader) (id, payload []byte, n int, err error) {
	if err := fill(br); err != nil {
		return nil, nil, 0, err
	}
	buf, _ := br.Peek(br.Buffered())
	i := bytes.IndexByte(buf, '\n')
	if i < 0 || i > framing.MaxLine {
		// Unfinished in the buffer, or too long: framing.ReadLine reads
		// on, and copies.
		id, payload, err = readLine(br)
		return id, payload, 0, err
	}
	line := buf[:i]
	if k := len(line); k > 0 && line[k-1] == '\r' {
		line = line[:k-1]
	}
	if framing.IsNative(line) {
		id, payload, err = framing.CutNativeID(line)
		return id, payload, i + 1, err
	}
	return nil, line, i + 1, nil
}

func (lineCodec) whole(br *bufio.Reader) bool {
	buf, _ := br.Peek(br.Buffered())
	return bytes.IndexByte(buf, '\n') >= 0
}

// readLine reads a line that is not whole in br's buffer.
func readLine(br *bufio.Reader) (id, payload []byte, err error) {
	line, err := framing.ReadLine(br)
	if errors.Is(err, framing.ErrLineTooLong) {
		// The start of the line was kept, so a native client still learns
		// which request was refused.
		if framing.IsNative(line) {
			id, _, _ = framing.CutNativeID(line)
		}
		return id, nil, err
	}
	if err != nil {
		return nil, line, err // line: what was read of an unfinished request
	}
	if framing.IsNative(line) {
		return framing.CutNativeID(line)
	}
	return nil, line, nil
}

func (lineCodec) appendAnswer(dst, id []byte, yes bool, err error) []byte {
	if id == nil {
		if yes && err == nil {
			return append(dst, "1\n"...)
		}
		return append(dst, "0\n"...)
	}
	if err != nil {
		return framing.AppendNativeAnswer(dst, id, false, errorKind(err), err.Error())
	}
	return framing.AppendNativeAnswer(dst, id, yes, "", "")
}

// frameCodec reads ejabberd extauth frames: a 2-byte big-endian length and
// the payload. Its answers are always in order and say only yes or no.
type frameCodec struct{}

func (frameCodec) read(br *bufio.Reader) (id, payload []byte, n int, err error) {
	if err := fill(br); err != nil {
		return nil, nil, 0, err
	}
	if hdr, _ := br.Peek(min(br.Buffered(), 2)); len(hdr) == 2 {
		size := int(binary.BigEndian.Uint16(hdr))
		if size == 0 {
			return nil, nil, 2, framing.ErrEmptyFrame
		}
		if br.Buffered() >= 2+size {
			frame, _ := br.Peek(2 + size)
			return nil, frame[2:], 2 + size, nil
		}
	}
	// Unfinished in the buffer: framing.ReadFrame reads on, and copies.
	payload, err = framing.ReadFrame(br)
	return nil, payload, 0, err
}

func (frameCodec) whole(br *bufio.Reader) bool {
	hdr, _ := br.Peek(min(br.Buffered(), 2))
	return len(hdr) == 2 && br.Buffered() >= 2+int(binary.BigEndian.Uint16(hdr))
}

func (frameCodec) appendAnswer(dst, _ []byte, yes bool, err error) []byte {
	return framing.Ejabberd.AppendAnswer(dst, yes && err == nil)
}

// errorKind names err for a native answer.
func errorKind(err error) framing.ErrorKind { return result.Kind(err) }
