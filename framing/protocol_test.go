package framing

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestAppendRequest(t *testing.T) {
	tests := []struct {
		p       Protocol
		r       Request
		want    string
		wantErr error
	}{
		{Generic, Request{Op: OpAuth, User: "alice", Server: "example.com", Password: "a:b"}, "auth:alice:example.com:a:b\n", nil},
		{Generic, Request{Op: OpIsUser, User: "bob", Server: "example.com", Password: ""}, "isuser:bob:example.com\n", nil},
		{Generic, Request{Op: OpSetPass, User: "bob", Server: "example.com", Password: "\x03\x7f"}, "setpass:bob:example.com:\x03\x7f\n", nil},
		{Generic, Request{Op: OpTryRegister, User: "bob", Server: "example.com", Password: "pw"}, "", ErrBadRequest},
		{Generic, Request{Op: OpAuth, User: "bob", Server: "example.com", Password: "p\rw"}, "", ErrBadRequest},
		{Ejabberd, Request{Op: OpAuth, User: "alice", Server: "example.com", Password: "€"}, "\x00\x1aauth:alice:example.com:€", nil},
		{Ejabberd, Request{Op: OpRemoveUser, User: "bob", Server: "example.com", Password: ""}, "\x00\x1aremoveuser:bob:example.com", nil},
		{Ejabberd, Request{Op: OpRemoveUser3, User: "bob", Server: "e", Password: "pw"}, "\x00\x14removeuser3:bob:e:pw", nil},
		{Ejabberd, Request{Op: OpAuth, User: "a", Server: "b", Password: strings.Repeat("x", MaxPayload-9)}, "\xff\xffauth:a:b:" + strings.Repeat("x", MaxPayload-9), nil},
		{Ejabberd, Request{Op: OpAuth, User: "a", Server: "b", Password: strings.Repeat("x", MaxPayload-8)}, "", ErrBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.p.String()+"/"+tt.r.Op.String(), func(t *testing.T) {
			prefix := []byte("keep")
			got, err := tt.p.AppendRequest(prefix, tt.r)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if string(got) != "keep" {
					t.Fatalf("dst changed on error: %q", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != "keep"+tt.want {
				t.Fatalf("got %.60q, want %.60q", got, "keep"+tt.want)
			}
		})
	}
}

func TestParseProtocol(t *testing.T) {
	for _, p := range []Protocol{Generic, Ejabberd} {
		got, err := ParseProtocol(p.String())
		if err != nil || got != p {
			t.Errorf("ParseProtocol(%q) = %v, %v", p, got, err)
		}
	}
	if _, err := ParseProtocol("xmpp"); err == nil {
		t.Error("ParseProtocol accepted an unknown name")
	}
}

func TestAnswerRoundTrip(t *testing.T) {
	for _, p := range []Protocol{Generic, Ejabberd} {
		for _, yes := range []bool{false, true} {
			d := AnswerDecoder{Protocol: p}
			enc := p.AppendAnswer(nil, yes)
			n, got, done, err := d.Feed(enc)
			if err != nil || !done || got != yes || n != len(enc) {
				t.Errorf("%s %v: Feed(%q) = %d, %v, %v, %v", p, yes, enc, n, got, done, err)
			}
		}
	}
}

func TestAnswerDecoder(t *testing.T) {
	tests := []struct {
		p       Protocol
		in      string
		chunk   int // feed in pieces of this size; 0 means all at once
		want    []bool
		wantErr bool
		rest    string // bytes left unconsumed after the last answer
	}{
		{p: Generic, in: "1\n", want: []bool{true}},
		{p: Generic, in: "0\n", want: []bool{false}},
		{p: Generic, in: "1\r\n", want: []bool{true}},
		{p: Generic, in: "0\r\n", chunk: 1, want: []bool{false}},
		{p: Generic, in: "1\n0\n", chunk: 1, want: []bool{true, false}},
		{p: Generic, in: "1\n0\n", want: []bool{true}, rest: "0\n"},
		{p: Generic, in: "1", chunk: 1},
		{p: Generic, in: "x\n", wantErr: true},
		{p: Generic, in: "\n", wantErr: true},
		{p: Generic, in: "11\n", wantErr: true},
		{p: Generic, in: "1\r\r\n", wantErr: true},
		{p: Generic, in: " 1\n", wantErr: true},
		{p: Generic, in: "true\n", wantErr: true},
		{p: Generic, in: "\x00\x02\x00\x01", wantErr: true},
		{p: Ejabberd, in: "\x00\x02\x00\x01", want: []bool{true}},
		{p: Ejabberd, in: "\x00\x02\x00\x00", chunk: 1, want: []bool{false}},
		{p: Ejabberd, in: "\x00\x02\x00\x01\x00\x02", want: []bool{true}, rest: "\x00\x02"},
		{p: Ejabberd, in: "\x00\x02\x00\x02", wantErr: true},
		{p: Ejabberd, in: "\x00\x03\x00\x01", wantErr: true},
		{p: Ejabberd, in: "1\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.p.String()+"/"+strings.ReplaceAll(tt.in, "\n", `\n`), func(t *testing.T) {
			d := AnswerDecoder{Protocol: tt.p}
			var got []bool
			in := []byte(tt.in)
			var rest []byte
			for len(in) > 0 {
				size := len(in)
				if tt.chunk > 0 && tt.chunk < size {
					size = tt.chunk
				}
				chunk := in[:size]
				in = in[size:]
				for len(chunk) > 0 {
					n, yes, done, err := d.Feed(chunk)
					if err != nil {
						if !tt.wantErr {
							t.Fatalf("Feed: %v", err)
						}
						if !errors.Is(err, ErrProtocol) {
							t.Fatalf("error %v does not wrap ErrProtocol", err)
						}
						return
					}
					chunk = chunk[n:]
					if done {
						got = append(got, yes)
						if tt.chunk == 0 {
							rest = append(chunk, in...)
							in, chunk = nil, nil
						}
					}
				}
			}
			if tt.wantErr {
				t.Fatalf("no error; answers %v", got)
			}
			if len(got) != len(tt.want) || (len(got) > 0 && !bytes.Equal(boolsToBytes(got), boolsToBytes(tt.want))) {
				t.Fatalf("answers %v, want %v", got, tt.want)
			}
			if string(rest) != tt.rest {
				t.Fatalf("rest %q, want %q", rest, tt.rest)
			}
			if tt.in == "1" && !d.Pending() {
				t.Fatal("a partial answer is not pending")
			}
		})
	}
}

func boolsToBytes(bs []bool) []byte {
	out := make([]byte, len(bs))
	for i, b := range bs {
		if b {
			out[i] = 1
		}
	}
	return out
}
