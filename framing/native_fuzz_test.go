package framing

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// fzKinds are the error kinds docs/PROTOCOL.md lists, and "" for none.
var fzKinds = []ErrorKind{"", KindBadRequest, KindTimeout, KindUnavailable,
	KindOverloaded, KindProtocol, KindExited, KindClosed, KindInternal}

// fzGoodID reports whether id is 1 to 20 ASCII digits.
func fzGoodID(id []byte) bool {
	if len(id) < 1 || len(id) > 20 {
		return false
	}
	for _, c := range id {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// FuzzNative checks the native protocol's parsers on a fuzzed line:
//   - IsNative is true exactly for a line that starts with a digit;
//   - CutNativeID returns exactly what docs/PROTOCOL.md says: the id of 1
//     to 20 digits before the first space and the non-empty payload after
//     it, or, refusing the line with an error wrapping ErrBadRequest, the
//     id "-" when the id is bad, the id alone when the payload is missing;
//   - AppendNativeAnswer with the id CutNativeID returned, for any answer
//     and any message, writes exactly one line, which ParseNativeAnswer
//     reads back: same id, same answer, the message cut at its first CR or
//     LF, so no message can forge another answer;
//   - ParseNativeAnswer accepts exactly "ID 1", "ID 0" and "ID error KIND
//     [MESSAGE]" with ID 1 to 20 digits or "-", and what it accepts
//     AppendNativeAnswer writes back as the same line (but for a space
//     after KIND with no message).
func FuzzNative(f *testing.F) {
	for _, s := range []string{
		"1 auth:alice:example.com:wonderland", "0042 isuser:a:b", "7 auth:a:b:c d", "7", "7 ",
		"7x auth:a:b:c", "123456789012345678901 isuser:a:b", "12345678901234567890 isuser:a:b",
		"- 1", "- 0", "-- 1", "- error badrequest bad request: no request after the id",
		"5 1", "5 0", "5 2", "5 error", "5 error ", "5 error timeout", "5 error timeout ",
		"5 error internal oops 6 1", "5 error  x", "5 yes", "x 1", "", " ", " 1",
		"18446744073709551615 1", "00000000000000000000 0", "000000000000000000000 0",
		"1 auth:a:b:\x03\x04\x13\x1a\x7f", "1 auth:a:b:c\r", "1 auth:a:\x00:c", "1\tauth:a:b:c",
		"5 error \xff\xfe", "\xd9\xa1 1", // an Arabic-Indic digit is not a digit
	} {
		f.Add([]byte(s), true, uint8(0), "")
	}
	f.Add([]byte("5 auth:a:b:c"), false, uint8(1), "user contains ':'")
	f.Add([]byte("5 auth:a:b:c"), false, uint8(8), "oops\n6 1")
	f.Add([]byte("5 auth:a:b:c"), false, uint8(2), "a\rb\nc")
	f.Add([]byte("5 auth:a:b:c"), false, uint8(3), "\n")
	f.Add([]byte("bad id"), true, uint8(4), "\x00\x03\x7f \xff")
	f.Fuzz(func(t *testing.T, line []byte, yes bool, kind uint8, msg string) {
		if IsNative(line) != (len(line) > 0 && '0' <= line[0] && line[0] <= '9') {
			t.Fatalf("IsNative(%q) = %v", line, IsNative(line))
		}

		// CutNativeID against docs/PROTOCOL.md.
		id, payload, err := CutNativeID(line)
		tok, rest, hasSpace := bytes.Cut(line, []byte{' '})
		switch {
		case !fzGoodID(tok):
			if string(id) != InvalidID || payload != nil || !errors.Is(err, ErrBadRequest) {
				t.Fatalf("CutNativeID(%q) = %q, %q, %v; want a bad id", line, id, payload, err)
			}
		case !hasSpace || len(rest) == 0:
			if !bytes.Equal(id, tok) || payload != nil || !errors.Is(err, ErrBadRequest) {
				t.Fatalf("CutNativeID(%q) = %q, %q, %v; want id %q and no payload", line, id, payload, err, tok)
			}
		default:
			if !bytes.Equal(id, tok) || !bytes.Equal(payload, rest) || err != nil {
				t.Fatalf("CutNativeID(%q) = %q, %q, %v", line, id, payload, err)
			}
		}
		if err != nil {
			// The error tells the case, and nothing of the line.
			same := "x"
			if fzGoodID(tok) {
				same = "1"
			}
			if _, _, err2 := CutNativeID([]byte(same)); err.Error() != err2.Error() {
				t.Fatalf("CutNativeID(%q): error %q depends on the line (%q gives %q)", line, err, same, err2)
			}
		}

		// The answer to that line.
		k := fzKinds[int(kind)%len(fzKinds)]
		prefix := []byte("0\n")
		enc := AppendNativeAnswer(prefix[:2:2], id, yes, k, msg)
		if !bytes.Equal(enc[:2], prefix) {
			t.Fatalf("AppendNativeAnswer changed dst: %q", enc)
		}
		enc = enc[2:]
		if bytes.Count(enc, []byte{'\n'}) != 1 || enc[len(enc)-1] != '\n' {
			t.Fatalf("AppendNativeAnswer(%q, %v, %q, %q) = %q, not one line", id, yes, k, msg, enc)
		}
		want := NativeAnswer{ID: string(id)}
		if k == "" {
			want.Yes = yes
		} else {
			want.Kind = k
			want.Message, _, _ = strings.Cut(msg, "\n")
			want.Message, _, _ = strings.Cut(want.Message, "\r")
		}
		if got, err := ParseNativeAnswer(enc[:len(enc)-1]); err != nil || got != want {
			t.Fatalf("ParseNativeAnswer(%q) = %+v, %v; want %+v", enc, got, err, want)
		}

		// The line as an answer.
		a, err := ParseNativeAnswer(line)
		accept := (fzGoodID(tok) || string(tok) == InvalidID) && hasSpace &&
			(string(rest) == "1" || string(rest) == "0" ||
				bytes.HasPrefix(rest, []byte("error ")) && len(rest) > len("error ") && rest[len("error ")] != ' ')
		if (err == nil) != accept {
			t.Fatalf("ParseNativeAnswer(%q) = %+v, %v; want accepted=%v", line, a, err, accept)
		}
		if err != nil {
			if !errors.Is(err, ErrMalformedAnswer) {
				t.Fatalf("ParseNativeAnswer(%q): %v does not wrap ErrMalformedAnswer", line, err)
			}
			return
		}
		if a.ID != string(tok) || a.Yes != (string(rest) == "1") || (a.Kind == "") != (a.Yes || string(rest) == "0") ||
			strings.Contains(string(a.Kind), " ") {
			t.Fatalf("ParseNativeAnswer(%q) = %+v", line, a)
		}
		if bytes.ContainsAny(line, "\r\n") {
			return // not a line AppendNativeAnswer could have written
		}
		back := AppendNativeAnswer(nil, []byte(a.ID), a.Yes, a.Kind, a.Message)
		back = back[:len(back)-1]
		if !bytes.Equal(back, line) && !(a.Kind != "" && a.Message == "" && bytes.Equal(append(back, ' '), line)) {
			t.Fatalf("ParseNativeAnswer(%q) = %+v, written back as %q", line, a, back)
		}
	})
}
