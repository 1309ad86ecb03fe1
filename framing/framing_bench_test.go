package framing

import "testing"

var benchReq = Request{Op: OpAuth, User: "alice", Server: "example.com", Password: "correct horse battery staple"}

func BenchmarkAppendRequest(b *testing.B) {
	for _, p := range []Protocol{Generic, Ejabberd} {
		b.Run(p.String(), func(b *testing.B) {
			buf := make([]byte, 0, 128)
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if buf, err = p.AppendRequest(buf[:0], benchReq); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkParseRequest(b *testing.B) {
	line := []byte("auth:alice:example.com:correct horse battery staple")
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		if _, err := ParseRequest(line); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAnswerDecoder(b *testing.B) {
	tests := []struct {
		p   Protocol
		in  []byte
		one bool // the answer arrives in one piece
	}{
		{Generic, []byte("1\n"), true},
		{Generic, []byte("1\r\n"), false},
		{Ejabberd, []byte{0, 2, 0, 1}, true},
	}
	for _, tt := range tests {
		name := tt.p.String()
		if !tt.one {
			name += "/bytewise"
		}
		b.Run(name, func(b *testing.B) {
			d := AnswerDecoder{Protocol: tt.p}
			b.ReportAllocs()
			for b.Loop() {
				if tt.one {
					if _, _, done, err := d.Feed(tt.in); !done || err != nil {
						b.Fatal("no answer", err)
					}
					continue
				}
				for i := range tt.in {
					if _, _, _, err := d.Feed(tt.in[i : i+1]); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
