package framing

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/netip"
	"strings"
	"testing"
)

func TestCutNativeID(t *testing.T) {
	tests := []struct {
		line, id, payload string
		bad               bool
	}{
		{"1 auth:a:b:c", "1", "auth:a:b:c", false},
		{"0042 isuser:a:b", "0042", "isuser:a:b", false},
		{"7 auth:a:b:c d", "7", "auth:a:b:c d", false},
		{"7", "7", "", true},
		{"7 ", "7", "", true},
		{"7x auth:a:b:c", InvalidID, "", true},
		{strings.Repeat("9", 21) + " isuser:a:b", InvalidID, "", true},
	}
	for _, tt := range tests {
		id, payload, err := CutNativeID([]byte(tt.line))
		if string(id) != tt.id || string(payload) != tt.payload || (err != nil) != tt.bad {
			t.Errorf("CutNativeID(%q) = %q, %q, %v", tt.line, id, payload, err)
		}
		if err != nil && !errors.Is(err, ErrBadRequest) {
			t.Errorf("CutNativeID(%q): %v does not wrap ErrBadRequest", tt.line, err)
		}
	}
}

func TestNativeRoundTrip(t *testing.T) {
	line, err := AppendNativeRequest(nil, 12, Request{Op: OpAuth, User: "a", Server: "b", Password: "p:w"})
	if err != nil || string(line) != "12 auth:a:b:p:w\n" {
		t.Fatalf("AppendNativeRequest = %q, %v", line, err)
	}
	if _, err := AppendNativeRequest(nil, 1, Request{Op: OpAuth, User: "a:x", Server: "b", Password: "p"}); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("bad request encoded: %v", err)
	}
	tests := []struct {
		yes  bool
		kind ErrorKind
		msg  string
		want NativeAnswer
	}{
		{true, "", "", NativeAnswer{ID: "5", Yes: true}},
		{false, "", "", NativeAnswer{ID: "5"}},
		{false, KindTimeout, "", NativeAnswer{ID: "5", Kind: KindTimeout}},
		{false, KindBadRequest, "user contains ':'", NativeAnswer{ID: "5", Kind: KindBadRequest, Message: "user contains ':'"}},
		// A message cannot forge a second answer line.
		{false, KindInternal, "oops\n6 1", NativeAnswer{ID: "5", Kind: KindInternal, Message: "oops"}},
	}
	for _, tt := range tests {
		enc := AppendNativeAnswer(nil, []byte("5"), tt.yes, tt.kind, tt.msg)
		if strings.Count(string(enc), "\n") != 1 {
			t.Fatalf("answer %q is not one line", enc)
		}
		got, err := ParseNativeAnswer(enc[:len(enc)-1])
		if err != nil || got != tt.want {
			t.Errorf("round trip of %q = %+v, %v; want %+v", enc, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "5", "5 2", "x 1", "5 error", "5 error ", "5 yes"} {
		if _, err := ParseNativeAnswer([]byte(bad)); !errors.Is(err, ErrMalformedAnswer) {
			t.Errorf("ParseNativeAnswer(%q) = %v", bad, err)
		}
	}
}

func TestReadLine(t *testing.T) {
	long := strings.Repeat("x", MaxLine+10)
	in := "auth:a:b:c\r\n\nisuser:a:b\n" + "12 " + long + "\nafter\nunterminated"
	br := bufio.NewReaderSize(strings.NewReader(in), 16)
	want := []struct {
		line string
		err  error
	}{
		{"auth:a:b:c", nil},
		{"", nil},
		{"isuser:a:b", nil},
		{("12 " + long)[:MaxIDLen+1], ErrLineTooLong},
		{"after", nil},
		{"", io.EOF},
	}
	for i, w := range want {
		line, err := ReadLine(br)
		if !errors.Is(err, w.err) || (err == nil || errors.Is(err, ErrLineTooLong)) && string(line) != w.line {
			t.Fatalf("line %d: %.30q, %v; want %.30q, %v", i, line, err, w.line, w.err)
		}
	}
}

func TestReadFrame(t *testing.T) {
	in := "\x00\x03abc\x00\x00\x00\x01z\x00\x05ab"
	r := strings.NewReader(in)
	for i, w := range []struct {
		payload string
		err     error
	}{
		{"abc", nil},
		{"", ErrEmptyFrame},
		{"z", nil},
		{"\x00\x05ab", io.ErrUnexpectedEOF}, // what was read of the frame
		{"", io.EOF},
	} {
		p, err := ReadFrame(r)
		if string(p) != w.payload || !errors.Is(err, w.err) {
			t.Fatalf("frame %d: %q, %v; want %q, %v", i, p, err, w.payload, w.err)
		}
	}
}

// TestNativeFrom: the client's address rides in an optional from= token
// that round-trips; a line without it reads as before; a bad address is
// refused as a bad request, and never read as part of the payload.
func TestNativeFrom(t *testing.T) {
	req := Request{Op: OpAuth, User: "alice", Server: "example.com", Password: "pw"}
	for _, tc := range []struct {
		client netip.Addr
		want   string
	}{
		{netip.Addr{}, "7 auth:alice:example.com:pw\n"},
		{netip.MustParseAddr("192.0.2.7"), "7 from=192.0.2.7 auth:alice:example.com:pw\n"},
		{netip.MustParseAddr("2001:db8::1"), "7 from=2001:db8::1 auth:alice:example.com:pw\n"},
	} {
		r := req
		r.Client = tc.client
		line, err := AppendNativeRequest(nil, 7, r)
		if err != nil || string(line) != tc.want {
			t.Errorf("AppendNativeRequest(%v) = %q, %v; want %q", tc.client, line, err, tc.want)
			continue
		}
		_, payload, err := CutNativeID(bytes.TrimSuffix(line, []byte{'\n'}))
		if err != nil {
			t.Fatal(err)
		}
		addr, rest, err := CutNativeClient(payload)
		if err != nil || addr != tc.client || string(rest) != "auth:alice:example.com:pw" {
			t.Errorf("CutNativeClient(%q) = %v, %q, %v", payload, addr, rest, err)
		}
	}
	for _, tc := range []struct{ payload, addr, rest string }{
		{"from=::ffff:192.0.2.7 isuser:a:b", "192.0.2.7", "isuser:a:b"},
		{"isuser:a:b", "invalid IP", "isuser:a:b"},
	} {
		addr, rest, err := CutNativeClient([]byte(tc.payload))
		if err != nil || addr.String() != tc.addr || string(rest) != tc.rest {
			t.Errorf("CutNativeClient(%q) = %v, %q, %v", tc.payload, addr, rest, err)
		}
	}
	for _, bad := range []string{"from=", "from=192.0.2.7", "from=192.0.2.7 ", "from=host.example auth:a:b:c", "from=fe80::1%eth0 auth:a:b:c", "from= auth:a:b:c", "from=192.0.2.300 auth:a:b:c"} {
		if _, _, err := CutNativeClient([]byte(bad)); !errors.Is(err, ErrBadRequest) {
			t.Errorf("CutNativeClient(%q): %v, want ErrBadRequest", bad, err)
		}
	}
}
