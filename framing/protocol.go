package framing

import (
	"errors"
	"fmt"
)

// ErrProtocol is wrapped by every error about a helper's output that is not
// a well-formed answer. A helper that produces one is out of step with its
// host and must be replaced.
var ErrProtocol = errors.New("helper protocol violation")

// Protocol is a helper wire protocol. The zero value is Generic.
type Protocol uint8

const (
	// Generic is Prosody's line protocol: "op:U:S[:P]\n", answered "1\n" or
	// "0\n" ("\r\n" is accepted too, for helpers that put their tty back
	// into cooked mode).
	Generic Protocol = iota
	// Ejabberd is ejabberd's extauth protocol: a 2-byte big-endian length
	// and the payload, answered by exactly 00 02 00 00 or 00 02 00 01.
	Ejabberd
)

// String returns the protocol's flag name.
func (p Protocol) String() string {
	switch p {
	case Generic:
		return "generic"
	case Ejabberd:
		return "ejabberd"
	}
	return fmt.Sprintf("Protocol(%d)", uint8(p))
}

// MarshalText writes the name String gives, so that JSON (logs, status)
// says Protocol's name, not its number.
func (p Protocol) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// ParseProtocol returns the protocol named s ("generic" or "ejabberd").
func ParseProtocol(s string) (Protocol, error) {
	switch s {
	case "generic":
		return Generic, nil
	case "ejabberd":
		return Ejabberd, nil
	}
	return 0, fmt.Errorf("unknown protocol %q (want generic or ejabberd)", s)
}

// Supports reports whether p can carry op.
func (p Protocol) Supports(op Op) bool {
	switch p {
	case Generic:
		return op == OpAuth || op == OpIsUser || op == OpSetPass
	case Ejabberd:
		return op.valid()
	}
	return false
}

// AppendRequest validates r and appends its encoding in protocol p to dst.
// On error dst is returned unchanged.
func (p Protocol) AppendRequest(dst []byte, r Request) ([]byte, error) {
	if err := r.Validate(); err != nil {
		return dst, err
	}
	if !p.Supports(r.Op) {
		return dst, fmt.Errorf("%w: the %s protocol has no %s operation", ErrBadRequest, p, r.Op)
	}
	switch p {
	case Ejabberd:
		n := r.payloadLen()
		dst = append(dst, byte(n>>8), byte(n))
		return r.appendPayload(dst), nil
	default:
		return append(r.appendPayload(dst), '\n'), nil
	}
}

// AppendAnswer appends the encoding of a helper's answer in protocol p; it
// is what a helper, or a bridge standing in for one, writes.
func (p Protocol) AppendAnswer(dst []byte, yes bool) []byte {
	var b byte
	if yes {
		b = 1
	}
	if p == Ejabberd {
		return append(dst, 0, 2, 0, b)
	}
	return append(dst, '0'+b, '\n')
}
