package main

import (
	"testing"
	"time"

	"github.com/authpool/authpool/framing"
	"github.com/authpool/authpool/pool"
)

func TestReadOutput(t *testing.T) {
	gen := []byte("isuser:a:b\n")
	ejab := []byte("\x00\x0aisuser:a:b")
	for _, tt := range []struct {
		name      string
		p         framing.Protocol
		out, wire []byte
		want      reading
	}{
		{"generic no", framing.Generic, []byte("0\n"), gen, reading{answered: true}},
		{"generic yes, CRLF", framing.Generic, []byte("1\r\n"), gen, reading{answered: true, yes: true}},
		{"nothing", framing.Generic, nil, gen, reading{}},
		{"no line end", framing.Generic, []byte("1"), gen, reading{noLineEnd: true}},
		{"echo", framing.Generic, []byte("isuser:a:b\n0\n"), gen, reading{answered: true, echo: true}},
		{"echo inside a debug print", framing.Generic, []byte("got isuser:a:b\r\n0\n"), gen, reading{answered: true, echo: true}},
		{"banner", framing.Generic, []byte("hello\n0\n"), gen, reading{answered: true, extra: [][]byte{[]byte("hello")}, extraBefore: true}},
		{"after", framing.Generic, []byte("0\ndone\n"), gen, reading{answered: true, extra: [][]byte{[]byte("done")}}},
		{"blank line", framing.Generic, []byte("\n0\n"), gen, reading{answered: true, extra: [][]byte{{}}, extraBefore: true}},
		{"two answers", framing.Generic, []byte("0\n1\n"), gen, reading{answered: true, extraAnswers: 1}},
		{"junk", framing.Generic, []byte("yes\n"), gen, reading{extra: [][]byte{[]byte("yes")}, extraBefore: true}},
		{"partial junk after", framing.Generic, []byte("0\nxy"), gen, reading{answered: true, extra: [][]byte{[]byte("xy")}}},
		{"ejabberd's answer, asked generic", framing.Generic, []byte{0, 2, 0, 1}, gen,
			reading{extra: [][]byte{{0, 2, 0, 1}}, extraBefore: true, otherFraming: true}},

		{"ejabberd no", framing.Ejabberd, []byte{0, 2, 0, 0}, ejab, reading{answered: true}},
		{"ejabberd yes", framing.Ejabberd, []byte{0, 2, 0, 1}, ejab, reading{answered: true, yes: true}},
		{"ejabberd echo", framing.Ejabberd, append(append([]byte{}, ejab...), 0, 2, 0, 0), ejab, reading{answered: true, echo: true}},
		{"ejabberd banner", framing.Ejabberd, []byte("hi\n\x00\x02\x00\x00"), ejab, reading{answered: true, extra: [][]byte{[]byte("hi\n")}, extraBefore: true}},
		{"ejabberd two answers", framing.Ejabberd, []byte{0, 2, 0, 0, 0, 2, 0, 1}, ejab, reading{answered: true, extraAnswers: 1}},
		{"ejabberd junk after", framing.Ejabberd, []byte{0, 2, 0, 0, 'x'}, ejab, reading{answered: true, extra: [][]byte{[]byte("x")}}},
		{"a line, asked ejabberd", framing.Ejabberd, []byte("0\n"), ejab, reading{extra: [][]byte{[]byte("0\n")}, extraBefore: true, otherFraming: true}},
		{"a frame that is no answer", framing.Ejabberd, []byte{0, 2, 0, 7}, ejab, reading{extra: [][]byte{{0, 2, 0, 7}}, extraBefore: true}},
	} {
		got := readOutput(tt.p, tt.out, tt.wire)
		if got.answered != tt.want.answered || got.yes != tt.want.yes || got.echo != tt.want.echo ||
			got.extraBefore != tt.want.extraBefore || got.extraAnswers != tt.want.extraAnswers ||
			got.noLineEnd != tt.want.noLineEnd || got.otherFraming != tt.want.otherFraming ||
			len(got.extra) != len(tt.want.extra) {
			t.Errorf("%s: %+v, want %+v", tt.name, got, tt.want)
			continue
		}
		for i := range got.extra {
			if string(got.extra[i]) != string(tt.want.extra[i]) {
				t.Errorf("%s: extra %q, want %q", tt.name, got.extra, tt.want.extra)
			}
		}
	}
}

// A first answer is slow for what start-up took, not for what answering
// takes; half the allowance is a warning.
func TestStartTime(t *testing.T) {
	const ms = time.Millisecond
	answered := func(took time.Duration) *exchange {
		return &exchange{took: took, read: reading{answered: true}}
	}
	for _, tt := range []struct {
		name  string
		first time.Duration
		later []time.Duration
		want  severity // "" for none
	}{
		{"fast", 50 * ms, []time.Duration{ms}, ""},
		{"over the limit", 2500 * ms, []time.Duration{ms}, problem},
		{"past half", 1200 * ms, []time.Duration{ms}, warning},
		{"slow answers, quick start", 2500 * ms, []time.Duration{2000 * ms, 2100 * ms}, ""},
		{"no later answer", 2500 * ms, nil, problem},
	} {
		d := newDoctorRun(doctorConfig{pool: pool.Config{Command: []string{"x"}, Timeout: time.Second}})
		exs := []*exchange{answered(tt.first)}
		for _, l := range tt.later {
			exs = append(exs, answered(l))
		}
		d.startTime(exs)
		var got severity
		for _, f := range d.rep.Findings {
			if f.ID == findSlowStart {
				got = f.Severity
			}
		}
		if got != tt.want {
			t.Errorf("%s: %q, want %q (%v)", tt.name, got, tt.want, d.rep.Findings)
		}
	}
}
