package framing

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// fzRead is one result of ReadLine or ReadFrame.
type fzRead struct {
	data []byte
	err  error
}

// fzShow prints reads for a failure message, long data cut short.
func fzShow(reads []fzRead) string {
	var b strings.Builder
	for _, r := range reads {
		fmt.Fprintf(&b, "\t%d bytes %.80q, %v\n", len(r.data), r.data, r.err)
	}
	return b.String()
}

func fzSameReads(got, want []fzRead) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if !bytes.Equal(got[i].data, want[i].data) || got[i].err != want[i].err {
			return false
		}
	}
	return true
}

// fzReadAll calls read until it fails with anything but a refusal of one
// request (ErrBadRequest), after which the stream goes on.
func fzReadAll(read func() ([]byte, error)) []fzRead {
	var out []fzRead
	for {
		data, err := read()
		out = append(out, fzRead{data, err})
		if err != nil && !errors.Is(err, ErrBadRequest) {
			return out
		}
		if len(out) > 1<<20 {
			panic("reader never ends")
		}
	}
}

// fzChunkReader returns at most n bytes per Read.
type fzChunkReader struct {
	r io.Reader
	n int
}

func (c fzChunkReader) Read(p []byte) (int, error) {
	if len(p) > c.n {
		p = p[:c.n]
	}
	return c.r.Read(p)
}

// errFzStall stands for a read error that is not the end of the stream,
// such as a read deadline.
var errFzStall = errors.New("stalled")

// fzStopReader delivers data, then fails with err.
type fzStopReader struct {
	data []byte
	err  error
}

func (s *fzStopReader) Read(p []byte) (int, error) {
	if len(s.data) == 0 {
		return 0, s.err
	}
	n := copy(p, s.data)
	s.data = s.data[n:]
	return n, nil
}

// fzStop cuts data where a fuzzed read error happens: stop 0 means the
// stream ends (io.EOF) after all of data, any other value a stall
// (errFzStall) after some of it: stop-1 bytes, or, in data too long for a
// uint16 to reach its end, all but stop-1.
func fzStop(data []byte, stop uint16) ([]byte, error) {
	if stop == 0 {
		return data, io.EOF
	}
	n := int(stop-1) % (len(data) + 1)
	if len(data) > 1<<16-2 {
		n = len(data) - n
	}
	return data[:n], errFzStall
}

// fzFrameModel is ReadFrame's contract on a stream of data followed by
// the read error end, by hand: a 2-byte big-endian length and that many
// bytes; a zero length is ErrEmptyFrame and the stream goes on; io.EOF
// between frames is io.EOF, inside one io.ErrUnexpectedEOF; and an error
// inside a frame comes with the bytes read of it.
func fzFrameModel(data []byte, end error) []fzRead {
	var out []fzRead
	inFrame := end
	if end == io.EOF {
		inFrame = io.ErrUnexpectedEOF
	}
	for {
		switch {
		case len(data) == 0:
			return append(out, fzRead{nil, end})
		case len(data) == 1:
			return append(out, fzRead{data, inFrame})
		}
		n := int(data[0])<<8 | int(data[1])
		switch {
		case n == 0:
			out = append(out, fzRead{nil, ErrEmptyFrame})
		case n > len(data)-2:
			return append(out, fzRead{data, inFrame})
		default:
			out = append(out, fzRead{data[2 : 2+n], nil})
		}
		data = data[2+n:]
	}
}

// FuzzReadFrame checks ReadFrame, the ejabberd request reader:
//   - on any byte stream (lying lengths, zero-length frames, a stream that
//     ends or stalls mid-frame), the frames and errors are exactly
//     fzFrameModel's;
//   - the same whatever sizes the underlying reads come in, and through
//     Ejabberd.ReadRequest on a small bufio.Reader;
//   - no payload is empty or over MaxPayload;
//   - frames built from fuzzed payloads (data cut at 0xff bytes, and one
//     payload of a fuzzed length up to 65535 bytes) read back identically,
//     an empty payload as ErrEmptyFrame.
func FuzzReadFrame(f *testing.F) {
	for _, s := range []string{
		"", "\x00", "\x00\x00", "\x00\x03abc", "\x00\x03abc\x00\x00\x00\x01z\x00\x05ab",
		"\x00\x21auth:alice:example.com:wonderland", "\x00\x22auth:alice:example.com:wonderland",
		"\x00\x20auth:alice:example.com:wonderland", "\xff\xffshort", "\x01\x00",
		"\x00\x0aisuser:a:b\r\n\x00\x03\x03\x04\x13", "\x00\x01\x00\x00\x01\x7f",
	} {
		f.Add([]byte(s), uint8(3), uint16(0), byte('p'), uint16(0))
	}
	f.Add([]byte("\x00\x03abc\x00\x05ab"), uint8(3), uint16(0), byte('p'), uint16(8))
	f.Add([]byte("\x00\x03abc\x00\x05ab"), uint8(3), uint16(0), byte('p'), uint16(6))
	f.Add([]byte("auth:a:b:c\xffisuser:a:b\xff\xff"), uint8(1), uint16(0xffff), byte(0), uint16(0))
	f.Add([]byte("\xff"), uint8(200), uint16(0x1a0a), byte('\n'), uint16(0))
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8, bigLen uint16, fill byte, stop uint16) {
		data, end := fzStop(data, stop)
		want := fzFrameModel(data, end)
		for _, r := range want {
			if r.err == nil && (len(r.data) == 0 || len(r.data) > MaxPayload) {
				t.Fatalf("model returned %q", r.data)
			}
		}
		readers := map[string]io.Reader{
			"whole":            &fzStopReader{data, end},
			"one byte a read":  iotest.OneByteReader(&fzStopReader{data, end}),
			"chunked":          fzChunkReader{&fzStopReader{data, end}, 1 + int(chunk)},
			"bufio.Reader(16)": nil,
		}
		if end == io.EOF {
			readers["EOF with data"] = iotest.DataErrReader(bytes.NewReader(data))
		}
		for name, r := range readers {
			read := func() ([]byte, error) { return ReadFrame(r) }
			if r == nil {
				br := bufio.NewReaderSize(fzChunkReader{&fzStopReader{data, end}, 1 + int(chunk)}, 16)
				read = func() ([]byte, error) { return Ejabberd.ReadRequest(br) }
			}
			if got := fzReadAll(read); !fzSameReads(got, want) {
				t.Fatalf("ReadFrame(%q, then %v) through %s:\n%swant\n%s", data, end, name, fzShow(got), fzShow(want))
			}
		}

		// A stream of frames built from payloads, each cut to the longest
		// a frame can carry.
		payloads := bytes.Split(data, []byte{0xff})
		for i, p := range payloads {
			payloads[i] = p[:min(len(p), MaxPayload)]
		}
		at := int(chunk) % (len(payloads) + 1)
		payloads = append(payloads[:at:at], append([][]byte{bytes.Repeat([]byte{fill}, int(bigLen))}, payloads[at:]...)...)
		var stream []byte
		want = nil
		for _, p := range payloads {
			stream = binary.BigEndian.AppendUint16(stream, uint16(len(p)))
			stream = append(stream, p...)
			if len(p) == 0 {
				want = append(want, fzRead{nil, ErrEmptyFrame})
			} else {
				want = append(want, fzRead{p, nil})
			}
		}
		want = append(want, fzRead{nil, io.EOF})
		r := bytes.NewReader(stream)
		if got := fzReadAll(func() ([]byte, error) { return ReadFrame(r) }); !fzSameReads(got, want) {
			t.Fatalf("frames of %.80q read back as\n%swant\n%s", payloads, fzShow(got), fzShow(want))
		}
	})
}

// fzLineModel is ReadLine's contract on a stream of data followed by the
// read error end, by hand: the stream cut at each '\n'; a line loses one
// '\r' before its '\n'; a line over MaxLine bytes (its '\r' counted) is
// ErrLineTooLong with its first MaxIDLen+1 bytes; what follows the last
// '\n' is not a line: it comes with the error.
func fzLineModel(data []byte, end error) []fzRead {
	var out []fzRead
	lines := bytes.Split(data, []byte{'\n'})
	for _, l := range lines[:len(lines)-1] {
		switch {
		case len(l) > MaxLine:
			out = append(out, fzRead{l[:MaxIDLen+1], ErrLineTooLong})
		default:
			out = append(out, fzRead{bytes.TrimSuffix(l, []byte{'\r'}), nil})
		}
	}
	last := lines[len(lines)-1]
	if len(last) > MaxLine+1 {
		// Once ReadLine knows a line is too long, it keeps only its start,
		// and an error before its end comes with that start: see
		// TestReadLineStallInOverlongLine.
		last = last[:MaxIDLen+1]
	}
	return append(out, fzRead{last, end})
}

// FuzzReadLine checks ReadLine, the generic and native request reader, on
// a stream of fuzzed bytes with a run of one fuzzed byte in the middle,
// long enough at times to cross MaxLine, which ends or stalls at a fuzzed
// point:
//   - the lines and errors are exactly fzLineModel's, so joining the lines
//     read with '\n' gives back the stream up to its last '\n', but for
//     the '\r's before line ends and the lines over MaxLine;
//   - whatever the bufio.Reader's size (from 16 bytes to more than
//     MaxLine) and the sizes the underlying reads come in;
//   - no line is longer than MaxLine or holds a '\n'.
func FuzzReadLine(f *testing.F) {
	f.Add([]byte("auth:a:b:c\r\n\nisuser:a:b\n12 "), byte('x'), uint16(40000), []byte("\nafter\nunterminated"), uint16(0), uint16(0))
	f.Add([]byte("1 auth:a:b:"), byte('p'), uint16(0), []byte("\r\r\n\r\n\x00\x03\x04\x13\x1a\x7f\n"), uint16(100), uint16(0))
	f.Add([]byte("auth:a:b:"), byte('p'), uint16(32768+600-9), []byte("\n"), uint16(1), uint16(0))        // MaxLine bytes
	f.Add([]byte("auth:a:b:"), byte('p'), uint16(32768+600-9+1), []byte("\n"), uint16(0x8000), uint16(0)) // one over
	f.Add([]byte("auth:a:b:"), byte('p'), uint16(32768+600-9), []byte("\r\n"), uint16(0x8001), uint16(0)) // MaxLine and CR
	f.Add([]byte("12345678901234567890 "), byte('\r'), uint16(40000), []byte("\n"), uint16(4080), uint16(0))
	f.Add([]byte("1 auth:a:b:c\n2 auth:a:b"), byte(':'), uint16(3), []byte("secret\n"), uint16(7), uint16(20))
	f.Add([]byte(""), byte('\n'), uint16(900), []byte("\xff\xfe"), uint16(7), uint16(0))
	f.Add([]byte("7 auth:a:b:"), byte('p'), uint16(33768), []byte("\n"), uint16(16), uint16(101)) // stalls over MaxLine
	f.Fuzz(func(t *testing.T, head []byte, fill byte, n uint16, tail []byte, size, stop uint16) {
		// n below 32768 is a short run; above it, a run within a few
		// hundred bytes of MaxLine.
		run := int(n)
		if n >= 32768 {
			run = MaxLine - 600 + int(n-32768)%1200
		}
		data := append(append(append([]byte(nil), head...), bytes.Repeat([]byte{fill}, run)...), tail...)
		data, end := fzStop(data, stop)
		bufSize := 16 + int(size)%4096
		if size&0x8000 != 0 {
			bufSize = MaxLine + 1 + int(size)%64
		}
		want := fzLineModel(data, end)
		readers := map[string]io.Reader{
			"whole":   &fzStopReader{data, end},
			"chunked": fzChunkReader{&fzStopReader{data, end}, 1 + int(size)%61},
		}
		if len(data) < 4096 {
			readers["one byte a read"] = iotest.OneByteReader(&fzStopReader{data, end})
		}
		for name, r := range readers {
			br := bufio.NewReaderSize(r, bufSize)
			got := fzReadAll(func() ([]byte, error) {
				line, err := Generic.ReadRequest(br)
				if (err == nil || errors.Is(err, ErrLineTooLong)) && len(line) > MaxLine || bytes.IndexByte(line, '\n') >= 0 {
					t.Fatalf("ReadLine returned %d bytes, %v: %.40q", len(line), err, line)
				}
				return line, err
			})
			if !fzSameReads(got, want) {
				t.Fatalf("ReadLine(%.200q, then %v) through %s, buffer %d:\n%swant\n%s", data, end, name, bufSize, fzShow(got), fzShow(want))
			}
		}
	})
}

// TestReadLineStallInOverlongLine is what FuzzReadLine found once ReadLine
// began to return what was read of an unfinished line with a read error:
// it does so for every unfinished line but one already known to be over
// MaxLine, for which it returns nothing, so a caller cannot tell a client
// that stalled inside an over-long line from one that sent nothing. The
// server's --client-timeout (server/conn.go) then takes a client that owes
// answers for idle and reads on, so the rest of the over-long line is read
// as a request of its own.
func TestReadLineStallInOverlongLine(t *testing.T) {
	data := append([]byte("7 auth:alice:example.com:"), bytes.Repeat([]byte{'p'}, MaxLine)...)
	br := bufio.NewReaderSize(&fzStopReader{data, errFzStall}, 4096)
	line, err := ReadLine(br)
	if err != errFzStall || len(line) == 0 {
		t.Fatalf("ReadLine = %d bytes, %v; want some of the %d bytes read, and the read error", len(line), err, len(data))
	}
}
