package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/authpool/authpool/framing"
	"github.com/authpool/authpool/result"
)

// Fuzz targets for what the daemon's listeners parse. Run one with
//
//	go test -run '^$' -fuzz '^FuzzCodec$' -fuzztime 60s ./server
//
// (make fuzz runs every target briefly). Helpers are prefixed fz.

// fzResults are the results a pool can give, by fuzzed index: a yes, a
// no, and each failure, one with a message that tries to forge an answer.
var fzResults = []result.Result{
	{OK: true},
	{OK: false},
	{Err: result.ErrTimeout},
	{Err: fmt.Errorf("helper 3: %w", result.ErrTimeout)},
	{Err: result.ErrUnavailable},
	{Err: result.ErrOverloaded},
	{Err: result.ErrClosed},
	{Err: fmt.Errorf("%w: junk", framing.ErrProtocol)},
	{Err: result.ErrHelperExited},
	{Err: fmt.Errorf("%w: empty password", framing.ErrBadRequest)},
	{Err: context.DeadlineExceeded},
	{Err: context.Canceled},
	{Err: errors.New("boom\n7 1\r\n8 1")},
	{OK: true, Err: result.ErrTimeout}, // never a yes
}

// fzMaskPassword changes every byte after a payload's third ':' but line
// ends and NULs, which change how a request is refused.
func fzMaskPassword(payload []byte) []byte {
	out := append([]byte(nil), payload...)
	colons := 0
	for i, c := range out {
		switch {
		case colons < 3:
			if c == ':' {
				colons++
			}
		case c == '\n' || c == '\r' || c == 0:
		case c == 'x':
			out[i] = 'y'
		default:
			out[i] = 'x'
		}
	}
	return out
}

// fzAnswer is what a connection answers to one read: the refusal that
// came with it, or ParseRequest's, or the fuzzed result of a valid one.
func fzAnswer(t *testing.T, cd codec, id, payload []byte, readErr error, res result.Result) []byte {
	t.Helper()
	r := result.Result{Err: readErr}
	if readErr == nil {
		req, err := framing.ParseRequest(payload)
		switch {
		case err != nil:
			r.Err = err
		case req.Validate() != nil:
			t.Fatalf("ParseRequest(%q) = %v, which does not Validate", payload, req)
		default:
			r = res
		}
	}
	return cd.appendAnswer(nil, id, r.OK, r.Err)
}

// FuzzCodec reads a fuzzed byte stream (with a run of one byte inserted,
// long enough at times to cross MaxLine) the way a connection of each
// listener does (lineCodec: generic and native lines; frameCodec: ejabberd
// frames), parses what it reads, and answers it with a fuzzed result.
// It checks:
//   - reading ends only with the stream (io.EOF, or io.ErrUnexpectedEOF
//     inside a frame), with what was read of an unfinished request; every
//     other error refuses one request and wraps framing.ErrBadRequest;
//   - a payload read holds no '\n', and is at most MaxPayload bytes in a
//     frame, at most MaxLine in a line;
//   - a line read as generic does not start with a digit; a native id is
//     1 to 20 digits, or "-" for a refused line whose id was bad;
//   - every request read gets exactly one answer: for a generic line, "1\n"
//     exactly when the pool said yes without error, otherwise "0\n"; for a
//     native line, one line with the request's id that ParseNativeAnswer
//     reads as that yes, no, or error of the kind errorKind gives (a
//     refusal is "badrequest"); for a frame, 00 02 00 01 or 00 02 00 00;
//   - the answers do not depend on the bytes of a password: changing every
//     byte after the third ':' of every request gives the same answers,
//     and none contains the password.
func FuzzCodec(f *testing.F) {
	for _, s := range []string{
		"auth:alice:example.com:wonderland\nisuser:nobody:example.com\n",
		"1 auth:alice:example.com:wonderland\n2 isuser:a:b\r\n",
		"auth:alice:example.com:pass:with:colons\n\n\r\n",
		"3 auth:al:ice:example.com:secretpw\n",
		"x\n7\n7 \n7x auth:a:b:c\n123456789012345678901 isuser:a:b\n- 1\n",
		"12345678901234567890 setpass:a:b:\x03\x04\x13\x1a\x7f\n",
		"auth:a:b:sec\x00retpw\nauth:a:b:secretpw\r\r\n",
		"tryregister:a:b:c\nremoveuser:a:b\nremoveuser3:a:b:c\n",
		"auth:a:b:\xff\xfe\xc0\x80\n",
		"auth:alice:example.com:unterminated",
	} {
		f.Add([]byte(s), false, uint8(0), uint16(0), uint16(0), byte(0))
	}
	for _, s := range []string{
		"\x00\x21auth:alice:example.com:wonderland\x00\x0aisuser:a:b",
		"\x00\x00\x00\x0bisuser:a:b\n\x00\x0aisuser:a:b",
		"\x00\x22auth:alice:example.com:wonderland",
		"\x00",
		"\x00\x13auth:a:b:\x03\x04\x13\x1a\x7f\r\n\x00x",
		"\x00\x0eremoveuser:a:b",
	} {
		f.Add([]byte(s), true, uint8(0), uint16(0), uint16(0), byte(0))
	}
	f.Add([]byte("1 auth:a:b:c\nauth:a:b:c\n"), false, uint8(12), uint16(0), uint16(0), byte(0))
	f.Add([]byte("\x00\x0aisuser:a:b"), true, uint8(13), uint16(0), uint16(0), byte(0))
	// Runs near MaxLine and MaxPayload (see fzRun).
	f.Add([]byte("5 auth:a:b:\n6 isuser:a:b\n"), false, uint8(2), uint16(11), uint16(33768), byte('p'))
	f.Add([]byte("auth:a:b:\n"), false, uint8(0), uint16(9), uint16(32768+600-8-2), byte('p'))
	f.Add([]byte("\xff\xffauth:a:b:"), true, uint8(0), uint16(11), uint16(32768+600-21-2-9), byte('p'))
	f.Fuzz(func(t *testing.T, data []byte, ejabberd bool, pick uint8, at, n uint16, fill byte) {
		data = fzRun(data, at, n, fill)
		var cd codec = lineCodec{}
		if ejabberd {
			cd = frameCodec{}
		}
		res := fzResults[int(pick)%len(fzResults)]
		answers := fzReadAndAnswer(t, cd, data, res)
		masked := fzReadAndAnswer(t, cd, fzMaskPasswords(data, ejabberd), res)
		if !bytes.Equal(answers, masked) {
			t.Fatalf("answers depend on passwords: %q, with passwords changed %q", answers, masked)
		}
	})
}

// fzRun inserts a run of fill bytes into data at at (modulo its length),
// for long requests without long inputs: n bytes when n is below 32768,
// otherwise a number within 600 of MaxLine.
func fzRun(data []byte, at, n uint16, fill byte) []byte {
	run := int(n)
	if n >= 32768 {
		run = framing.MaxLine - 600 + int(n-32768)%1200
	}
	i := int(at) % (len(data) + 1)
	out := make([]byte, 0, len(data)+run)
	out = append(out, data[:i]...)
	out = append(out, bytes.Repeat([]byte{fill}, run)...)
	return append(out, data[i:]...)
}

// fzMaskPasswords masks the password of every request in a stream, as
// the codec would cut it: lines at '\n', frames by their length.
func fzMaskPasswords(data []byte, ejabberd bool) []byte {
	if !ejabberd {
		lines := bytes.Split(data, []byte{'\n'})
		for i, l := range lines {
			lines[i] = fzMaskPassword(l)
		}
		return bytes.Join(lines, []byte{'\n'})
	}
	out := append([]byte(nil), data...)
	for i := 0; i+2 <= len(out); {
		n := int(out[i])<<8 | int(out[i+1])
		end := min(i+2+n, len(out))
		copy(out[i+2:end], fzMaskPassword(out[i+2:end]))
		i = end
	}
	return out
}

// fzReadAndAnswer reads data with cd as a connection would, checks each
// read and its answer, and returns all the answers.
func fzReadAndAnswer(t *testing.T, cd codec, data []byte, res result.Result) []byte {
	t.Helper()
	_, native := cd.(lineCodec)
	br := bufio.NewReaderSize(bytes.NewReader(data), 4096)
	var all []byte
	for {
		id, payload, n, err := cd.read(br)
		if err != nil && !errors.Is(err, framing.ErrBadRequest) {
			// What comes with the end is the unfinished tail, or, for a
			// tail over MaxLine, its start.
			tail := data[bytes.LastIndexByte(data, '\n')+1:]
			unfinished := bytes.HasSuffix(data, payload) ||
				len(tail) > framing.MaxLine && bytes.Equal(payload, tail[:framing.MaxIDLen+1])
			if id != nil || err != io.EOF && err != io.ErrUnexpectedEOF || !unfinished {
				t.Fatalf("read ended with %q, %q, %v", id, payload, err)
			}
			return all
		}
		if bytes.IndexByte(payload, '\n') >= 0 && native || len(payload) > framing.MaxLine ||
			!native && len(payload) > framing.MaxPayload {
			t.Fatalf("read %d bytes: %.80q", len(payload), payload)
		}
		if err != nil && payload != nil {
			t.Fatalf("refused %q with a payload %q", err, payload)
		}
		if id == nil && err == nil && native && framing.IsNative(payload) {
			t.Fatalf("native line %q read as generic", payload)
		}
		if id != nil && (!native || string(id) != framing.InvalidID && !fzGoodID(id) || err == nil && len(payload) == 0) {
			t.Fatalf("read id %q, payload %q, %v", id, payload, err)
		}

		ans := fzAnswer(t, cd, id, payload, err, res)
		all = append(all, ans...)
		// The result the pool's caller gets: the refusal by the reader or
		// by ParseRequest, or else the pool's.
		final := res
		if err != nil {
			final = result.Result{Err: err}
		} else if _, perr := framing.ParseRequest(payload); perr != nil {
			final = result.Result{Err: perr}
		}
		yes := final.OK && final.Err == nil
		switch {
		case !native:
			if want := framing.Ejabberd.AppendAnswer(nil, yes); !bytes.Equal(ans, want) {
				t.Fatalf("frame %q answered %q, want %q", payload, ans, want)
			}
		case id == nil:
			if want := map[bool]string{true: "1\n", false: "0\n"}[yes]; string(ans) != want {
				t.Fatalf("line %q answered %q, want %q", payload, ans, want)
			}
		default:
			if bytes.Count(ans, []byte{'\n'}) != 1 || ans[len(ans)-1] != '\n' {
				t.Fatalf("native answer %q is not one line", ans)
			}
			want := framing.NativeAnswer{ID: string(id), Yes: yes}
			if final.Err != nil {
				want.Kind = errorKind(final.Err)
				want.Message = final.Err.Error()
				if i := strings.IndexAny(want.Message, "\r\n"); i >= 0 {
					want.Message = want.Message[:i]
				}
			}
			a, perr := framing.ParseNativeAnswer(ans[:len(ans)-1])
			if perr != nil || a != want {
				t.Fatalf("native answer %q to %q, %q, %v: %+v, %v; want %+v", ans, id, payload, err, a, perr, want)
			}
			if errors.Is(final.Err, framing.ErrBadRequest) != (a.Kind == framing.KindBadRequest) {
				t.Fatalf("answer %q to a result %v", ans, final.Err)
			}
		}
		// The password is in the answer only if it is in the same answer to
		// the request with another password.
		if i := fzPasswordStart(payload); i >= 0 && len(payload)-i >= 4 &&
			bytes.Count(payload, payload[i:]) == 1 && bytes.Contains(ans, payload[i:]) &&
			!bytes.Contains(fzAnswer(t, cd, id, fzMaskPassword(payload), err, res), payload[i:]) {
			t.Fatalf("answer %q to %q contains its password", ans, payload)
		}
		br.Discard(n) // id and payload may lie in br's buffer until now
	}
}

func fzGoodID(id []byte) bool {
	if len(id) < 1 || len(id) > framing.MaxIDLen {
		return false
	}
	for _, c := range id {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
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

// TestStallInOverlongLineSplitsIt is TestReadLineStallInOverlongLine
// (framing) seen from a client: with --client-timeout, a client that owes
// answers and stalls inside a line over MaxLine is neither closed, as one
// stalled inside any other line is, nor answered a refusal for the line:
// the server reads on from the middle of the line, and its rest is
// answered as a request of its own.
func TestStallInOverlongLineSplitsIt(t *testing.T) {
	_, path := serveWith(t, Config{Pool: newFake(0), ClientTimeout: 80 * time.Millisecond}, (*Server).Serve)
	c := dial(t, path)
	fmt.Fprint(c, "1 auth:slow:x:wols\n") // answered after 200ms, so the client owes answers
	fmt.Fprint(c, "2 auth:alice:example.com:"+strings.Repeat("p", framing.MaxLine))
	time.Sleep(120 * time.Millisecond) // the read deadline passes inside the line
	fmt.Fprint(c, "isuser:rest:of-the-line\n")
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	out, _ := io.ReadAll(c)
	for _, line := range strings.Split(string(out), "\n") {
		if line == "0" {
			t.Fatalf("the rest of the over-long line was answered as a generic request: %q", out)
		}
	}
}
