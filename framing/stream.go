package framing

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// MaxLine is the longest request line ReadLine accepts: a native id, a
// space, the longest payload, and CRLF.
const MaxLine = MaxIDLen + 1 + MaxPayload + 2

// ErrLineTooLong is returned by ReadLine for a line over MaxLine bytes. It
// wraps ErrBadRequest: the line is refused and the stream goes on.
var ErrLineTooLong = fmt.Errorf("%w: request line over %d bytes", ErrBadRequest, MaxLine)

// ReadLine reads one request line without its "\n" or "\r\n", as a helper
// (or a server standing in for one) reads the generic protocol. A line
// longer than MaxLine is skipped to its end and reported as ErrLineTooLong
// together with its first bytes (enough for a native id), so one over-long
// request fails alone. A last line without "\n" is not a request: the peer
// stopped mid-line, and ReadLine returns io.EOF. On any other error, what
// was read of an unfinished line is returned with it, so a caller can tell
// a peer that stalled mid-request from one that sent nothing.
func ReadLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		frag, err := br.ReadSlice('\n')
		if len(line)+len(frag) > MaxLine+1 {
			start := append(line[:0:0], append(line, frag...)[:MaxIDLen+1]...)
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n')
			}
			if err != nil {
				// Unfinished like any other line: its start says so.
				return start, err
			}
			return start, ErrLineTooLong
		}
		line = append(line, frag...)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil {
			return line, err
		}
		line = line[:len(line)-1]
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		return line, nil
	}
}

// ErrEmptyFrame is returned by ReadFrame for a zero-length frame; it wraps
// ErrBadRequest, and the stream goes on.
var ErrEmptyFrame = fmt.Errorf("%w: empty frame", ErrBadRequest)

// ReadFrame reads one ejabberd request frame (a 2-byte big-endian length and
// the payload) and returns the payload. A stream that ends inside a frame
// returns io.ErrUnexpectedEOF. On an error inside a frame, the bytes read of
// it are returned with the error, as ReadLine does.
func ReadFrame(r io.Reader) ([]byte, error) {
	var hdr [2]byte
	if n, err := io.ReadFull(r, hdr[:]); err != nil {
		if n > 0 {
			return hdr[:n], err
		}
		return nil, err
	}
	n := binary.BigEndian.Uint16(hdr[:])
	if n == 0 {
		return nil, ErrEmptyFrame
	}
	payload := make([]byte, n)
	if k, err := io.ReadFull(r, payload); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return append(hdr[:], payload[:k]...), err
	}
	return payload, nil
}

// ReadRequest reads one request payload in protocol p from br.
func (p Protocol) ReadRequest(br *bufio.Reader) ([]byte, error) {
	if p == Ejabberd {
		return ReadFrame(br)
	}
	return ReadLine(br)
}
