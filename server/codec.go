package server

import (
	"bufio"
	"errors"

	"github.com/authpool/authpool/framing"
	"github.com/authpool/authpool/result"
)

// codec is how one listener's clients frame requests and answers.
type codec interface {
	// read returns the next request's payload and, for a native request,
	// its id. An error wrapping framing.ErrBadRequest refuses one request
	// and the connection goes on; any other ends the connection, and comes
	// with what was read of an unfinished request, if anything.
	read(br *bufio.Reader) (id, payload []byte, err error)
	// appendAnswer encodes the answer to the request with id.
	appendAnswer(dst, id []byte, r result.Result) []byte
}

// lineCodec reads generic lines and native (id-prefixed) lines on the same
// connection.
type lineCodec struct{}

func (lineCodec) read(br *bufio.Reader) (id, payload []byte, err error) {
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

func (lineCodec) appendAnswer(dst, id []byte, r result.Result) []byte {
	if id == nil {
		if r.OK && r.Err == nil {
			return append(dst, "1\n"...)
		}
		return append(dst, "0\n"...)
	}
	if r.Err != nil {
		return framing.AppendNativeAnswer(dst, id, false, errorKind(r.Err), r.Err.Error())
	}
	return framing.AppendNativeAnswer(dst, id, r.OK, "", "")
}

// frameCodec reads ejabberd extauth frames: a 2-byte big-endian length and
// the payload. Its answers are always in order and say only yes or no.
type frameCodec struct{}

func (frameCodec) read(br *bufio.Reader) (id, payload []byte, err error) {
	payload, err = framing.ReadFrame(br)
	return nil, payload, err
}

func (frameCodec) appendAnswer(dst, _ []byte, r result.Result) []byte {
	return framing.Ejabberd.AppendAnswer(dst, r.OK && r.Err == nil)
}

// errorKind names err for a native answer.
func errorKind(err error) framing.ErrorKind { return result.Kind(err) }
