package framing

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
)

// MaxPayload is the longest request payload, in bytes without the line end
// or length prefix, that either protocol carries. It is ejabberd's hard limit
// (a 16-bit length) and well above Prosody's 1000-byte query limit.
const MaxPayload = 1<<16 - 1

// ErrBadRequest is wrapped by every error that rejects a request before it
// reaches a helper.
var ErrBadRequest = errors.New("bad request")

// Op is a request operation.
type Op uint8

// The operations of both protocols. The generic protocol carries only
// OpAuth, OpIsUser and OpSetPass.
const (
	OpAuth        Op = iota + 1 // auth:U:S:P, check a password
	OpIsUser                    // isuser:U:S, does the user exist
	OpSetPass                   // setpass:U:S:P, change a password
	OpTryRegister               // tryregister:U:S:P, create a user (ejabberd)
	OpRemoveUser                // removeuser:U:S, delete a user (ejabberd)
	OpRemoveUser3               // removeuser3:U:S:P, delete if the password matches (ejabberd)
)

var opNames = [...]string{
	OpAuth:        "auth",
	OpIsUser:      "isuser",
	OpSetPass:     "setpass",
	OpTryRegister: "tryregister",
	OpRemoveUser:  "removeuser",
	OpRemoveUser3: "removeuser3",
}

// String returns the operation's wire name.
func (o Op) String() string {
	if o.valid() {
		return opNames[o]
	}
	return fmt.Sprintf("Op(%d)", uint8(o))
}

// MarshalText writes the name String gives, so that JSON (logs, status)
// says Op's name, not its number.
func (o Op) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

func (o Op) valid() bool { return o >= OpAuth && o <= OpRemoveUser3 }

// ParseOp returns the operation named s on the wire.
func ParseOp(s string) (Op, error) {
	for o := OpAuth; o <= OpRemoveUser3; o++ {
		if opNames[o] == s {
			return o, nil
		}
	}
	// The name is not echoed: a confused client may put anything first,
	// a password included.
	return 0, fmt.Errorf("%w: unknown operation", ErrBadRequest)
}

// HasPassword reports whether the operation carries a password field.
func (o Op) HasPassword() bool {
	switch o {
	case OpAuth, OpSetPass, OpTryRegister, OpRemoveUser3:
		return true
	}
	return false
}

// Idempotent reports whether asking twice is harmless, so a request whose
// helper died before answering may be asked again of another helper.
func (o Op) Idempotent() bool { return o == OpAuth || o == OpIsUser }

// Request is one question for a helper. Its zero value is not valid.
type Request struct {
	Op       Op
	User     string
	Server   string
	Password string // only for operations where HasPassword is true
	// Client is the caller's network address when known (the zero Addr
	// when not). It is never sent to a helper: no encoder writes it. The
	// guessing defence (package penalty) keys its penalties on it.
	Client netip.Addr
}

// Validate reports whether r can be sent to a helper without any chance of
// being misread. The error wraps ErrBadRequest and never contains the
// password.
func (r Request) Validate() error {
	if !r.Op.valid() {
		return fmt.Errorf("%w: unknown operation %d", ErrBadRequest, uint8(r.Op))
	}
	if err := checkName("user", r.User); err != nil {
		return err
	}
	if err := checkName("server", r.Server); err != nil {
		return err
	}
	if !r.Op.HasPassword() {
		if r.Password != "" {
			return fmt.Errorf("%w: %s takes no password", ErrBadRequest, r.Op)
		}
	} else if i := badByte(r.Password); i >= 0 {
		return fmt.Errorf("%w: password contains a %s", ErrBadRequest, byteName(r.Password[i]))
	}
	if n := r.payloadLen(); n > MaxPayload {
		return fmt.Errorf("%w: request is %d bytes, over the limit of %d", ErrBadRequest, n, MaxPayload)
	}
	return nil
}

func checkName(field, v string) error {
	if v == "" {
		return fmt.Errorf("%w: empty %s", ErrBadRequest, field)
	}
	if i := badByte(v); i >= 0 {
		return fmt.Errorf("%w: %s contains a %s", ErrBadRequest, field, byteName(v[i]))
	}
	for i := 0; i < len(v); i++ {
		if v[i] == ':' {
			return fmt.Errorf("%w: %s contains ':'", ErrBadRequest, field)
		}
	}
	return nil
}

// badByte returns the index of the first byte no protocol can carry in a
// field, or -1.
func badByte(s string) int {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\n', '\r', 0:
			return i
		}
	}
	return -1
}

func byteName(b byte) string {
	switch b {
	case '\n':
		return "line feed"
	case '\r':
		return "carriage return"
	case 0:
		return "NUL byte"
	}
	return fmt.Sprintf("byte %#02x", b)
}

func (r Request) payloadLen() int {
	n := len(r.Op.String()) + 1 + len(r.User) + 1 + len(r.Server)
	if r.Op.HasPassword() {
		n += 1 + len(r.Password)
	}
	return n
}

// appendPayload appends "op:user:server[:password]".
func (r Request) appendPayload(dst []byte) []byte {
	dst = append(dst, r.Op.String()...)
	dst = append(dst, ':')
	dst = append(dst, r.User...)
	dst = append(dst, ':')
	dst = append(dst, r.Server...)
	if r.Op.HasPassword() {
		dst = append(dst, ':')
		dst = append(dst, r.Password...)
	}
	return dst
}

// ParseRequest parses one payload, "op:user:server[:password]" without its
// line end or length prefix, as a server or client sends it. The password is
// everything after the third ':', colons included. The request is validated.
func ParseRequest(payload []byte) (Request, error) {
	if len(payload) > MaxPayload {
		return Request{}, fmt.Errorf("%w: request is %d bytes, over the limit of %d", ErrBadRequest, len(payload), MaxPayload)
	}
	opName, rest, ok := bytes.Cut(payload, []byte{':'})
	if !ok {
		return Request{}, fmt.Errorf("%w: no ':' after the operation", ErrBadRequest)
	}
	op, err := ParseOp(string(opName))
	if err != nil {
		return Request{}, err
	}
	user, rest, ok := bytes.Cut(rest, []byte{':'})
	if !ok {
		return Request{}, fmt.Errorf("%w: %s needs a user and a server", ErrBadRequest, op)
	}
	r := Request{Op: op, User: string(user)}
	server, pass, hasPass := bytes.Cut(rest, []byte{':'})
	r.Server = string(server)
	switch {
	case op.HasPassword() && !hasPass:
		return Request{}, fmt.Errorf("%w: %s needs a password field", ErrBadRequest, op)
	case !op.HasPassword() && hasPass:
		return Request{}, fmt.Errorf("%w: %s takes no password (or the server contains ':')", ErrBadRequest, op)
	}
	r.Password = string(pass)
	if err := r.Validate(); err != nil {
		return Request{}, err
	}
	return r, nil
}

// String describes r for people and logs, without the password.
func (r Request) String() string {
	s := r.Op.String() + " " + r.User + "@" + r.Server
	if r.Op.HasPassword() {
		s += " password=" + redacted(r.Password)
	}
	if r.Client.IsValid() {
		s += " from " + r.Client.String()
	}
	return s
}

// Format makes every fmt verb, %#v and %+v included, print String, so no
// formatting path can reveal the password. The one exception is fmt's own:
// for the invalid verbs %p (on a value) and %w (outside fmt.Errorf), fmt
// prints the struct raw without calling any method. go vet reports both;
// keep it in the build.
func (r Request) Format(f fmt.State, _ rune) { fmt.Fprint(f, r.String()) }

// LogValue makes slog log r as a group without the password.
func (r Request) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("op", r.Op.String()),
		slog.String("user", r.User),
		slog.String("server", r.Server),
	}
	if r.Op.HasPassword() {
		attrs = append(attrs, slog.String("password", redacted(r.Password)))
	}
	if r.Client.IsValid() {
		attrs = append(attrs, slog.String("client", r.Client.String()))
	}
	return slog.GroupValue(attrs...)
}

// redacted says only whether a password is empty, which is useful when
// reading a log of refused requests and reveals nothing else.
func redacted(p string) string {
	if p == "" {
		return "(empty)"
	}
	return "(redacted)"
}
