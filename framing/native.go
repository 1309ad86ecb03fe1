package framing

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
)

// The native protocol is authpool's own, spoken on the daemon's socket next
// to the generic one (see docs/PROTOCOL.md): a request line starts with an
// id, and its answer carries the same id, so answers may come back in any
// order and failures can say what went wrong.
//
//	request:  ID SP [from=ADDR SP] op:user:server[:password] LF
//	answer:   ID SP ( "1" | "0" | "error" SP KIND [SP MESSAGE] ) LF
//
// ID is 1 to 20 ASCII digits, chosen by the client and echoed as is.

// ErrorKind names a failure in a native answer.
type ErrorKind string

// The kinds of failure a native answer can report.
const (
	KindBadRequest  ErrorKind = "badrequest"  // refused before reaching a helper
	KindTimeout     ErrorKind = "timeout"     // no answer, or no free helper, in time
	KindUnavailable ErrorKind = "unavailable" // no helper can run
	KindUntrusted   ErrorKind = "untrusted"   // helpers were caught out of step too often; none is asked until a probe passes
	KindOverloaded  ErrorKind = "overloaded"  // the queue is full
	KindProtocol    ErrorKind = "protocol"    // the helper answered junk; it was replaced
	KindExited      ErrorKind = "exited"      // the helper died before answering
	KindClosed      ErrorKind = "closed"      // the daemon is shutting down
	KindInternal    ErrorKind = "internal"    // anything else
)

// MaxIDLen is the longest request id: 20 digits hold any uint64.
const MaxIDLen = 20

// InvalidID is the id of the answer to a line whose id could not be read.
const InvalidID = "-"

// IsNative reports whether a line is a native request: it starts with a
// digit. Generic requests start with an operation name.
func IsNative(line []byte) bool { return len(line) > 0 && line[0] >= '0' && line[0] <= '9' }

// CutNativeID splits a native request line into its id and payload. When
// the id is malformed, the returned id is InvalidID and the error wraps
// ErrBadRequest; when only the payload is missing, the id is good and the
// error says so.
func CutNativeID(line []byte) (id, payload []byte, err error) {
	id, payload, ok := bytes.Cut(line, []byte{' '})
	if len(id) > MaxIDLen || !allDigits(id) {
		return []byte(InvalidID), nil, fmt.Errorf("%w: request id must be 1 to %d digits", ErrBadRequest, MaxIDLen)
	}
	if !ok || len(payload) == 0 {
		return id, nil, fmt.Errorf("%w: no request after the id", ErrBadRequest)
	}
	return id, payload, nil
}

func allDigits(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// AppendNativeRequest appends the native encoding of req with id, after
// validating req. A known req.Client goes in the from= token: the daemon
// keys its penalties on it. No helper encoder ever writes it.
func AppendNativeRequest(dst []byte, id uint64, req Request) ([]byte, error) {
	if err := req.Validate(); err != nil {
		return dst, err
	}
	dst = strconv.AppendUint(dst, id, 10)
	dst = append(dst, ' ')
	if req.Client.IsValid() {
		dst = append(dst, nativeFrom...)
		dst = req.Client.AppendTo(dst)
		dst = append(dst, ' ')
	}
	return append(req.appendPayload(dst), '\n'), nil
}

// nativeFrom starts the optional token that gives the client's address
// before a native payload. No operation name holds '=', so an old
// daemon refuses such a line as an unknown operation rather than misread
// it, and a payload without it means what it always did.
const nativeFrom = "from="

// CutNativeClient takes the optional "from=ADDR " token off the front of
// a native payload: the address of the client the caller serves (the
// XMPP client, never the caller itself). Without the token, addr is the
// zero Addr and rest is payload. A token whose address does not parse,
// or that nothing follows, is an error wrapping ErrBadRequest.
func CutNativeClient(payload []byte) (addr netip.Addr, rest []byte, err error) {
	if !bytes.HasPrefix(payload, []byte(nativeFrom)) {
		return netip.Addr{}, payload, nil
	}
	tok, rest, ok := bytes.Cut(payload[len(nativeFrom):], []byte{' '})
	if !ok || len(rest) == 0 {
		return netip.Addr{}, nil, fmt.Errorf("%w: no request after from=", ErrBadRequest)
	}
	addr, err = netip.ParseAddr(string(tok))
	if err != nil || addr.Zone() != "" {
		return netip.Addr{}, nil, fmt.Errorf("%w: from= is not an IP address", ErrBadRequest)
	}
	return addr.Unmap(), rest, nil
}

// AppendNativeAnswer appends an answer line: yes or no when kind is empty,
// an error of that kind otherwise. The message is cut at its first line
// end, so it cannot forge another answer.
func AppendNativeAnswer(dst, id []byte, yes bool, kind ErrorKind, msg string) []byte {
	dst = append(dst, id...)
	dst = append(dst, ' ')
	switch {
	case kind != "":
		dst = append(dst, "error "...)
		dst = append(dst, kind...)
		if i := bytes.IndexAny([]byte(msg), "\r\n"); i >= 0 {
			msg = msg[:i]
		}
		if msg != "" {
			dst = append(dst, ' ')
			dst = append(dst, msg...)
		}
	case yes:
		dst = append(dst, '1')
	default:
		dst = append(dst, '0')
	}
	return append(dst, '\n')
}

// NativeAnswer is a parsed native answer line.
type NativeAnswer struct {
	ID      string
	Yes     bool
	Kind    ErrorKind // empty unless the request failed
	Message string
}

// ErrMalformedAnswer is returned by ParseNativeAnswer for a line that is
// not a native answer.
var ErrMalformedAnswer = errors.New("malformed native answer")

// ParseNativeAnswer parses one answer line without its line end.
func ParseNativeAnswer(line []byte) (NativeAnswer, error) {
	id, rest, ok := bytes.Cut(line, []byte{' '})
	if !ok || (string(id) != InvalidID && (len(id) > MaxIDLen || !allDigits(id))) {
		return NativeAnswer{}, fmt.Errorf("%w: no id", ErrMalformedAnswer)
	}
	a := NativeAnswer{ID: string(id)}
	switch {
	case string(rest) == "1":
		a.Yes = true
	case string(rest) == "0":
	case bytes.HasPrefix(rest, []byte("error ")):
		kind, msg, _ := bytes.Cut(rest[len("error "):], []byte{' '})
		if len(kind) == 0 {
			return NativeAnswer{}, fmt.Errorf("%w: error without a kind", ErrMalformedAnswer)
		}
		a.Kind, a.Message = ErrorKind(kind), string(msg)
	default:
		return NativeAnswer{}, fmt.Errorf("%w: unknown result", ErrMalformedAnswer)
	}
	return a, nil
}
