package framing

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"
)

// fzAnswers are the well-formed helper answers of each protocol and what
// they mean.
var fzAnswers = map[Protocol][]struct {
	enc string
	yes bool
}{
	Generic:  {{"0\n", false}, {"1\n", true}, {"0\r\n", false}, {"1\r\n", true}},
	Ejabberd: {{"\x00\x02\x00\x00", false}, {"\x00\x02\x00\x01", true}},
}

// fzDecoded is everything an AnswerDecoder said about a stream.
type fzDecoded struct {
	answers  []bool
	err      string // the error that stopped decoding, if any
	consumed int    // bytes consumed, the one in error included
	pending  bool   // Pending at the end
}

// fzDecode feeds chunks to a new decoder as a reader of a helper's output
// would, and checks Feed's own contract on the way: it consumes at least
// one byte of a non-empty input, stops right after a complete answer,
// consumes everything when it neither finishes nor fails, and is not
// pending after an error.
func fzDecode(t *testing.T, p Protocol, chunks ...[]byte) fzDecoded {
	t.Helper()
	d := AnswerDecoder{Protocol: p}
	var out fzDecoded
	for _, c := range chunks {
		for len(c) > 0 {
			n, yes, done, err := d.Feed(c)
			if n < 1 || n > len(c) || done && err != nil || !done && err == nil && n != len(c) || !done && yes {
				t.Fatalf("Feed(%q) = %d, %v, %v, %v", c, n, yes, done, err)
			}
			out.consumed += n
			c = c[n:]
			if err != nil {
				if !errors.Is(err, ErrProtocol) {
					t.Fatalf("Feed: %v does not wrap ErrProtocol", err)
				}
				if d.Pending() {
					t.Fatal("decoder pending after an error")
				}
				out.err = err.Error()
				return out
			}
			if done {
				if d.Pending() {
					t.Fatal("decoder pending right after an answer")
				}
				out.answers = append(out.answers, yes)
			}
		}
	}
	out.pending = d.Pending()
	return out
}

// fzAnswerModel decodes data by matching well-formed answers one after
// another. It returns the answers, the index of the first byte that cannot
// continue an answer (or -1), and how many bytes of an answer precede that
// byte or the end of data.
func fzAnswerModel(p Protocol, data []byte) (answers []bool, bad, partial int) {
	i := 0
next:
	for {
		for _, a := range fzAnswers[p] {
			if bytes.HasPrefix(data[i:], []byte(a.enc)) {
				answers = append(answers, a.yes)
				i += len(a.enc)
				continue next
			}
		}
		break
	}
	// The longest start of an answer that data[i:] has.
	rest := data[i:]
	for _, a := range fzAnswers[p] {
		n := 0
		for n < len(rest) && n < len(a.enc) && rest[n] == a.enc[n] {
			n++
		}
		partial = max(partial, n)
	}
	if partial == len(rest) {
		return answers, -1, partial
	}
	return answers, i + partial, partial
}

// FuzzAnswerDecoder feeds a helper's output to an AnswerDecoder (generic or
// ejabberd) and checks:
//   - feeding it whole, split at a fuzzed point, or byte by byte gives the
//     same answers, the same error at the same byte, the same pending state;
//   - that outcome is what matching well-formed answers ("0\n", "1\n",
//     "0\r\n", "1\r\n"; 00 02 00 00, 00 02 00 01) one after another gives:
//     decoding fails exactly at the first byte that cannot continue one,
//     with an error that wraps ErrProtocol and gives the offset within the
//     answer (never the byte), and is pending exactly when the output ends
//     inside an answer;
//   - after Reset the decoder decodes again;
//   - AppendAnswer of fuzzed yes/no sequences decodes back to them.
func FuzzAnswerDecoder(f *testing.F) {
	for _, s := range []string{
		"1\n", "0\n", "1\r\n", "0\r\n", "1\n0\n1\r\n", "1", "1\r", "\n", "11\n",
		"1\r\r\n", " 1\n", "true\n", "1\n\x00\x02\x00\x01", "0\nauth:a:b:secret\n",
		"\x03\x04\x13\x1a\x7f", "\xff\xfe", "1\n0", "0\r\n1\n1",
	} {
		f.Add(false, []byte(s), uint16(1))
	}
	for _, s := range []string{
		"\x00\x02\x00\x01", "\x00\x02\x00\x00", "\x00\x02\x00\x01\x00\x02\x00\x00",
		"\x00\x02\x00\x02", "\x00\x03\x00\x01", "\x00\x02\x01\x01", "\x00\x02\x00",
		"1\n", "\x00\x02\x00\x01\x00", "\x00\x00", "\x00\x02\x00\x01\xff",
	} {
		f.Add(true, []byte(s), uint16(2))
	}
	f.Fuzz(func(t *testing.T, ejabberd bool, data []byte, split uint16) {
		p := Generic
		if ejabberd {
			p = Ejabberd
		}
		whole := fzDecode(t, p, data)
		cut := int(split) % (len(data) + 1)
		for name, got := range map[string]fzDecoded{
			"split":        fzDecode(t, p, data[:cut], data[cut:]),
			"byte by byte": fzDecode(t, p, fzBytes(data)...),
		} {
			if !slices.Equal(got.answers, whole.answers) || got.err != whole.err ||
				got.consumed != whole.consumed || got.pending != whole.pending {
				t.Fatalf("%s %q fed %s: %+v; fed whole: %+v", p, data, name, got, whole)
			}
		}

		answers, bad, partial := fzAnswerModel(p, data)
		if !slices.Equal(whole.answers, answers) {
			t.Fatalf("%s %q: answers %v, want %v", p, data, whole.answers, answers)
		}
		if bad < 0 {
			if whole.err != "" || whole.consumed != len(data) || whole.pending != (partial > 0) {
				t.Fatalf("%s %q: %+v, want no error and pending=%v", p, data, whole, partial > 0)
			}
		} else {
			want := fmt.Sprintf("unexpected byte at offset %d of a %s answer", partial, p)
			if whole.err == "" || whole.consumed != bad+1 || !bytes.HasSuffix([]byte(whole.err), []byte(want)) {
				t.Fatalf("%s %q: %+v, want an error %q at byte %d", p, data, whole, want, bad)
			}
		}

		// A decoder that failed, once Reset, decodes again.
		d := AnswerDecoder{Protocol: p}
		d.Feed(data)
		d.Reset()
		if d.Pending() {
			t.Fatal("pending after Reset")
		}
		enc := p.AppendAnswer(nil, true)
		if n, yes, done, err := d.Feed(enc); n != len(enc) || !yes || !done || err != nil {
			t.Fatalf("after Reset, Feed(%q) = %d, %v, %v, %v", enc, n, yes, done, err)
		}

		// Round trip: one answer per fuzzed byte.
		var want []bool
		var stream []byte
		for _, b := range data {
			yes := b&1 == 1
			want = append(want, yes)
			stream = p.AppendAnswer(stream, yes)
		}
		got := fzDecode(t, p, stream[:cut%(len(stream)+1)], stream[cut%(len(stream)+1):])
		if !slices.Equal(got.answers, want) || got.err != "" || got.pending || got.consumed != len(stream) {
			t.Fatalf("%s round trip of %v through %q: %+v", p, want, stream, got)
		}
	})
}

// fzBytes splits b into one-byte slices.
func fzBytes(b []byte) [][]byte {
	out := make([][]byte, len(b))
	for i := range b {
		out[i] = b[i : i+1]
	}
	return out
}
