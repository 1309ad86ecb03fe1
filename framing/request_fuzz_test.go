package framing

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"testing"
)

// Fuzz targets for the request side of both helper protocols. Run one with
//
//	go test -run '^$' -fuzz '^FuzzParseRequest$' -fuzztime 60s ./framing
//
// (make fuzz runs every target briefly). Their seed corpora, in
// testdata/fuzz/<target>/ and in the f.Add calls, run with every go test.
//
// Helpers shared by this package's fuzz tests are prefixed fz.

// fzOps is the operation table as docs/PROTOCOL.md gives it, written out
// again so the fuzz targets do not check the code against itself.
var fzOps = map[Op]struct {
	name    string
	hasPass bool
	generic bool
}{
	OpAuth:        {"auth", true, true},
	OpIsUser:      {"isuser", false, true},
	OpSetPass:     {"setpass", true, true},
	OpTryRegister: {"tryregister", true, false},
	OpRemoveUser:  {"removeuser", false, false},
	OpRemoveUser3: {"removeuser3", true, false},
}

// fzBadByte reports whether s has a byte no field may hold.
func fzBadByte(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' || s[i] == '\r' || s[i] == 0 {
			return true
		}
	}
	return false
}

// fzValid is docs/PROTOCOL.md's list of refusals, as a predicate.
func fzValid(r Request) bool {
	spec, ok := fzOps[r.Op]
	if !ok {
		return false
	}
	for _, v := range []string{r.User, r.Server} {
		if v == "" || fzBadByte(v) || strings.IndexByte(v, ':') >= 0 {
			return false
		}
	}
	if fzBadByte(r.Password) || !spec.hasPass && r.Password != "" {
		return false
	}
	n := len(spec.name) + 1 + len(r.User) + 1 + len(r.Server)
	if spec.hasPass {
		n += 1 + len(r.Password)
	}
	return n <= MaxPayload
}

// fzPassword returns what a payload's password would be, the bytes after
// its third ':', and whether a test may look for them in an output: only
// when they are at least 4 bytes long and occur nowhere else in the
// payload, so that finding them cannot be a coincidence.
func fzPassword(payload []byte) (string, bool) {
	i := fzPasswordStart(payload)
	if i < 0 {
		return "", false
	}
	pw := payload[i:]
	return string(pw), len(pw) >= 4 && bytes.Count(payload, pw) == 1
}

// fzPasswordStart returns the index after the third ':', or -1.
func fzPasswordStart(payload []byte) int {
	at := 0
	for range 3 {
		j := bytes.IndexByte(payload[at:], ':')
		if j < 0 {
			return -1
		}
		at += j + 1
	}
	return at
}

// fzMask returns s with every byte changed except line ends and NULs, which
// change how a request is refused: anything computed from a request except
// the password itself must come out the same for s and fzMask(s).
func fzMask(s string) string {
	b := []byte(s)
	for i, c := range b {
		switch c {
		case '\n', '\r', 0:
		case 'x':
			b[i] = 'y'
		default:
			b[i] = 'x'
		}
	}
	return string(b)
}

// fzMaskPayload masks a payload's password (see fzPassword), if it has one.
func fzMaskPayload(payload []byte) []byte {
	i := fzPasswordStart(payload)
	if i < 0 {
		return payload
	}
	return append(payload[:i:i], fzMask(string(payload[i:]))...)
}

func fzSeedPayloads() []string {
	return []string{
		"auth:alice:example.com:wonderland",
		"auth:alice:example.com:pass:with:colons",
		"auth:alice:example.com::",
		"auth:alice:example.com:",
		"isuser:alice:example.com",
		"isuser:alice:example.com:",
		"isuser:alice:example.com:secret",
		"setpass:alice:example.com:new\x03\x04\x13\x1a\x7fpw",
		"tryregister:bob:example.com:builder",
		"removeuser:bob:example.com",
		"removeuser3:bob:example.com:builder",
		"auth:alice:example.com:secret\r",
		"auth:alice:example.com:sec\nret",
		"auth:alice:example.com:sec\x00ret",
		"auth:al\x00ice:example.com:secret",
		"auth:alice:exa\rmple.com:secret",
		"auth::example.com:secret",
		"auth:alice::secret",
		"Auth:alice:example.com:secret",
		"auth secret",
		"secretpassword:alice:example.com:x",
		"auth", "", ":", ":::", "auth:", "auth:alice", "auth:alice:example.com",
		"auth:alice:example.com:\xff\xfe\xc0\x80",
		"auth:\xe2\x98\x83:\xff:pw",
		"isuser:a:b:\r\n",
		"auth:a:b:" + strings.Repeat("p", MaxPayload-len("auth:a:b:")),
		"auth:a:b:" + strings.Repeat("p", MaxPayload-len("auth:a:b:")+1),
		"isuser:a:" + strings.Repeat("s", MaxPayload-len("isuser:a:")),
	}
}

// FuzzParseRequest checks ParseRequest against docs/PROTOCOL.md:
//   - it accepts exactly the payloads "op:user:server[:password]" that
//     the Requests section allows, fields split at the first three ':';
//   - whatever it accepts Validates, and encodes back to the same bytes in
//     every protocol that carries the operation (a generic line, an
//     ejabberd frame with a true length, a native line), which parse back
//     to the same Request;
//   - a payload with a line feed, carriage return or NUL is refused;
//   - a refusal wraps ErrBadRequest and its text does not depend on the
//     password: it is the same when every password byte is changed, and
//     never contains the password.
func FuzzParseRequest(f *testing.F) {
	for _, s := range fzSeedPayloads() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		r, err := ParseRequest(payload)
		if err != nil {
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("ParseRequest(%q): %v does not wrap ErrBadRequest", payload, err)
			}
			if r != (Request{}) {
				t.Fatalf("ParseRequest(%q) failed but returned %#v", payload, r.LogValue())
			}
			_, err2 := ParseRequest(fzMaskPayload(payload))
			if err2 == nil || err2.Error() != err.Error() {
				t.Fatalf("ParseRequest(%q): error %q depends on the password (masked: %v)", payload, err, err2)
			}
			if pw, ok := fzPassword(payload); ok && strings.Contains(err.Error(), pw) && !strings.Contains(err2.Error(), pw) {
				t.Fatalf("ParseRequest(%q): error %q contains the password", payload, err)
			}
			if fzParseModel(payload) {
				t.Fatalf("ParseRequest(%q) refused a well-formed request: %v", payload, err)
			}
			return
		}
		if !fzParseModel(payload) {
			t.Fatalf("ParseRequest(%q) accepted a request docs/PROTOCOL.md refuses: %v", payload, r)
		}
		if bytes.ContainsAny(payload, "\n\r\x00") {
			t.Fatalf("ParseRequest(%q) accepted a line end or NUL", payload)
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("ParseRequest(%q) = %v, which does not Validate: %v", payload, r, err)
		}
		fields := bytes.SplitN(payload, []byte{':'}, 4)
		want := Request{Op: r.Op, User: string(fields[1]), Server: string(fields[2])}
		if len(fields) == 4 {
			want.Password = string(fields[3])
		}
		if r != want || r.Op.String() != string(fields[0]) {
			t.Fatalf("ParseRequest(%q) = %#v, fields %q", payload, r.LogValue(), fields)
		}
		fzCheckEncodings(t, r, payload)
	})
}

// fzParseModel reports whether docs/PROTOCOL.md accepts payload.
func fzParseModel(payload []byte) bool {
	fields := strings.SplitN(string(payload), ":", 4)
	if len(fields) < 3 {
		return false
	}
	for op, spec := range fzOps {
		if spec.name != fields[0] {
			continue
		}
		if spec.hasPass != (len(fields) == 4) {
			return false
		}
		r := Request{Op: op, User: fields[1], Server: fields[2]}
		if len(fields) == 4 {
			r.Password = fields[3]
		}
		return fzValid(r)
	}
	return false
}

// fzCheckEncodings checks that a valid r encodes to payload in every
// protocol that carries it, and parses back from each.
func fzCheckEncodings(t *testing.T, r Request, payload []byte) {
	t.Helper()
	prefix := []byte("earlier output")
	for _, p := range []Protocol{Generic, Ejabberd} {
		enc, err := p.AppendRequest(prefix[:len(prefix):len(prefix)], r)
		if !fzOps[r.Op].generic && p == Generic {
			if err == nil || !errors.Is(err, ErrBadRequest) || !bytes.Equal(enc, prefix) {
				t.Fatalf("%s.AppendRequest(%v) = %q, %v; want dst unchanged and a bad request", p, r, enc, err)
			}
			continue
		}
		if err != nil || !bytes.HasPrefix(enc, prefix) {
			t.Fatalf("%s.AppendRequest(%v) = %q, %v", p, r, enc, err)
		}
		enc = enc[len(prefix):]
		var got []byte
		switch p {
		case Generic:
			if bytes.Count(enc, []byte{'\n'}) != 1 || enc[len(enc)-1] != '\n' {
				t.Fatalf("generic request %q is not one line", enc)
			}
			got = enc[:len(enc)-1]
		case Ejabberd:
			if len(enc) < 2 || int(binary.BigEndian.Uint16(enc)) != len(enc)-2 {
				t.Fatalf("ejabberd frame %q: length prefix is not the payload's length", enc)
			}
			rd := bytes.NewReader(enc)
			if got, err = ReadFrame(rd); err != nil {
				t.Fatalf("ReadFrame(%q): %v", enc, err)
			}
			if _, err := ReadFrame(rd); err != io.EOF {
				t.Fatalf("ReadFrame after the frame %q: %v, want EOF", enc, err)
			}
		}
		if payload != nil && !bytes.Equal(got, payload) {
			t.Fatalf("%s encoding of %q carries %q", p, payload, got)
		}
		back, err := ParseRequest(got)
		if err != nil || back != r {
			t.Fatalf("%s round trip of %v: %v, %v", p, r, back, err)
		}
	}
	const id = 18446744073709551615
	line, err := AppendNativeRequest(prefix[:len(prefix):len(prefix)], id, r)
	if err != nil || !bytes.HasPrefix(line, prefix) {
		t.Fatalf("AppendNativeRequest(%v) = %q, %v", r, line, err)
	}
	line = line[len(prefix):]
	if bytes.Count(line, []byte{'\n'}) != 1 || line[len(line)-1] != '\n' || !IsNative(line) {
		t.Fatalf("native request %q is not one native line", line)
	}
	gotID, got, err := CutNativeID(line[:len(line)-1])
	if err != nil || string(gotID) != strconv.FormatUint(id, 10) {
		t.Fatalf("CutNativeID(%q) = %q, %q, %v", line, gotID, got, err)
	}
	if back, err := ParseRequest(got); err != nil || back != r {
		t.Fatalf("native round trip of %v: %v, %v", r, back, err)
	}
}

// FuzzRequest builds Requests from fuzzed fields and checks:
//   - Validate accepts exactly what docs/PROTOCOL.md allows, and its
//     refusals wrap ErrBadRequest and do not depend on the password;
//   - AppendRequest (both protocols) and AppendNativeRequest fail, leaving
//     dst as it was, exactly when the request is invalid or the protocol
//     cannot carry it; otherwise a generic request is one line ending in
//     its only '\n', an ejabberd frame's length prefix is its payload's
//     length, and each parses back to the same Request;
//   - no fmt verb but %p and %w (TestFormatBadVerbLeaksPassword), and no
//     slog handler, prints anything that depends on the password beyond
//     whether it is empty.
func FuzzRequest(f *testing.F) {
	f.Add(uint8(OpAuth), "alice", "example.com", "wonderland", uint16(0))
	f.Add(uint8(OpAuth), "alice", "example.com", "pass:with:colons", uint16(0))
	f.Add(uint8(OpAuth), "alice", "example.com", "", uint16(0))
	f.Add(uint8(OpIsUser), "alice", "example.com", "", uint16(0))
	f.Add(uint8(OpIsUser), "alice", "example.com", "secret", uint16(0))
	f.Add(uint8(OpSetPass), "alice", "example.com", "\x03\x04\x13\x1a\x7f", uint16(0))
	f.Add(uint8(OpTryRegister), "bob", "example.com", "builder", uint16(0))
	f.Add(uint8(OpRemoveUser), "bob", "example.com", "", uint16(0))
	f.Add(uint8(OpRemoveUser3), "bob", "example.com", "builder", uint16(0))
	f.Add(uint8(0), "alice", "example.com", "secret", uint16(0))
	f.Add(uint8(7), "alice", "example.com", "secret", uint16(0))
	f.Add(uint8(OpAuth), "al:ice", "example.com", "secret", uint16(0))
	f.Add(uint8(OpAuth), "alice", "exa:mple.com", "secret", uint16(0))
	f.Add(uint8(OpAuth), "", "example.com", "secret", uint16(0))
	f.Add(uint8(OpAuth), "alice", "", "secret", uint16(0))
	f.Add(uint8(OpAuth), "alice\n", "example.com", "secret", uint16(0))
	f.Add(uint8(OpAuth), "alice", "example.com\r", "secret", uint16(0))
	f.Add(uint8(OpAuth), "alice", "example.com", "sec\x00ret", uint16(0))
	f.Add(uint8(OpAuth), "alice", "example.com", "secret\r", uint16(0))
	f.Add(uint8(OpAuth), "\xff\xfe", "\xc0\x80", "\xed\xa0\x80", uint16(0))
	f.Add(uint8(OpAuth), "alice", "example.com", "password=(redacted)", uint16(0))
	f.Add(uint8(OpAuth), "alice", "example.com", "(empty)", uint16(0))
	f.Add(uint8(OpAuth), "alice", "example.com", "p", uint16(MaxPayload-len("auth:alice:example.com:")-1))
	f.Add(uint8(OpAuth), "alice", "example.com", "p", uint16(MaxPayload-len("auth:alice:example.com:")))
	f.Add(uint8(OpRemoveUser3), "alice", "example.com", "\r", uint16(MaxPayload))
	f.Fuzz(func(t *testing.T, op uint8, user, server, pass string, pad uint16) {
		// pad repeats the password's last byte, for long passwords
		// without long inputs.
		if pad > 0 && pass != "" {
			pass += strings.Repeat(pass[len(pass)-1:], int(pad))
		}
		r := Request{Op: Op(op), User: user, Server: server, Password: pass}
		masked := r
		masked.Password = fzMask(pass)
		err := r.Validate()
		if (err == nil) != fzValid(r) {
			t.Fatalf("Validate(%#v) = %v, want valid=%v", r.LogValue(), err, fzValid(r))
		}
		if err != nil {
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("Validate: %v does not wrap ErrBadRequest", err)
			}
			if err2 := masked.Validate(); err2 == nil || err2.Error() != err.Error() {
				t.Fatalf("Validate error %q depends on the password (masked: %v)", err, err2)
			}
			prefix := []byte("kept")
			for _, p := range []Protocol{Generic, Ejabberd} {
				enc, err := p.AppendRequest(prefix, r)
				if err == nil || !errors.Is(err, ErrBadRequest) || !bytes.Equal(enc, prefix) {
					t.Fatalf("%s.AppendRequest of an invalid request: %q, %v", p, enc, err)
				}
			}
			if enc, err := AppendNativeRequest(prefix, 1, r); err == nil || !bytes.Equal(enc, prefix) {
				t.Fatalf("AppendNativeRequest of an invalid request: %q, %v", enc, err)
			}
		} else {
			fzCheckEncodings(t, r, nil)
		}
		fzCheckPrinting(t, r)
	})
}

// fzCheckPrinting checks that printing r, through fmt or slog, reveals
// nothing of its password but whether it is empty.
func fzCheckPrinting(t *testing.T, r Request) {
	t.Helper()
	other := r
	if r.Password != "" {
		other.Password = "P"
	}
	got, want := fzPrint(r), fzPrint(other)
	if got != want {
		t.Fatalf("printing depends on the password:\n%s\nwith another password:\n%s", got, want)
	}
	if len(r.Password) >= 4 && !strings.Contains(want, r.Password) && strings.Contains(got, r.Password) {
		t.Fatalf("password printed:\n%s", got)
	}
}

// fzPrint prints r every way a program might.
func fzPrint(r Request) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v|%+v|%#v|%s|%q|%x|%X|%d|%10.3v|%-40s|%T\n", r, r, r, r, r, r, r, r, r, r, r)
	fmt.Fprintf(&b, fzOddFormat, r, r, r, r)
	fmt.Fprintf(&b, "%v|%+v|%#v|%s\n", &r, &r, []Request{r}, map[string]*Request{"r": &r})
	fmt.Fprintf(&b, "%+v|%#v\n", struct{ R Request }{r}, struct{ R *Request }{&r})
	fmt.Fprint(&b, r, &r, "\n")
	fmt.Fprintln(&b, r, []any{r})
	fmt.Fprintf(&b, "%v\n", []any{r, &r}...)
	for _, h := range []slog.Handler{
		slog.NewTextHandler(&b, fzLogOptions),
		slog.NewJSONHandler(&b, fzLogOptions),
	} {
		log := slog.New(h)
		log.Info("request", "request", r, "pointer", &r, slog.Group("g", "r", r), slog.Any("any", r))
		log.With("r", r).WithGroup("grp").Warn("again", "r", r)
	}
	return b.String()
}

// fzOddFormat has verbs vet would refuse, and one argument too many; a
// variable, so that vet lets it be.
var fzOddFormat = "%z|%!|%08.2v\n"

// fzLogOptions logs everything, without the time, so that two logs of
// the same events compare equal.
var fzLogOptions = &slog.HandlerOptions{
	Level: slog.LevelDebug,
	ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	},
}
