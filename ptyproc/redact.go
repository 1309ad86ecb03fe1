package ptyproc

import (
	"bytes"
	"slices"
	"time"
)

// redactedMark replaces each password found in a stderr line.
const redactedMark = "(redacted)"

// redactor finds, in a helper's stderr lines, the passwords in its secret
// window, as they are or in the escaped forms scripts print strings in, and
// replaces them. It belongs to the one goroutine that reads the stderr.
//
// Rather than encode every secret in every form (there are too many
// variants: upper or lower case hex, which characters an encoder escapes,
// surrogate pairs), the line is decoded in a few lenient ways, each keeping
// where every decoded byte came from, and the secrets are looked for in the
// raw line and in each decoding. A match anywhere redacts the bytes of the
// line it came from:
//
//   - backslash escapes, bytes flavour: \xNN as a byte (Python repr of
//     bytes, C), \uNNNN and \UNNNNNNNN (JSON, Python), JSON surrogate
//     pairs, Python's surrogateescape (\udc80-\udcff as bytes 80-ff),
//     \x{...} and \u{...} (Perl, Rust), octal \NNN (bash $'...'), \n \t
//     and the like, and backslash before any other character as that
//     character (\\ \' \" \/, shell);
//   - the same with \xNN and octal as the code point (Python repr and
//     ascii() of a str, where \xe4 is "ä");
//   - URL encoding: %XX and + for a space;
//   - shell quoting: '...', "..." with its escapes, $'...', and \ outside
//     quotes (shlex.quote, printf %q, declare -p).
//
// Forms it does not know (base64, hex dumps, HTML entities, a password
// printed in pieces or across lines, or encoded twice) are not redacted.
type redactor struct {
	w     *secretWindow
	dec   decoded
	spans []span
}

type span struct{ from, to int }

// redactBudget bounds the work on one line, in bytes scanned once per
// secret length and decoding: about 20 ms. Only a long line, when
// passwords of very many lengths were sent, goes over; it is then not
// logged rather than logged unredacted, and the secret window, which the
// request path also locks, is not held for long.
const redactBudget = 16 << 20

// redact appends line to dst with every secret found replaced by
// redactedMark. ok is false, and dst unchanged, if redacting line would
// cost more than redactBudget.
func (r *redactor) redact(dst, line []byte) (_ []byte, ok bool) {
	r.spans = r.spans[:0]
	w := r.w
	w.mu.Lock()
	w.expire(time.Now())
	if len(line)*len(w.lens)*5 > redactBudget {
		w.mu.Unlock()
		return dst, false
	}
	if w.n > 0 {
		r.search(line, nil)
		if bytes.IndexByte(line, '\\') >= 0 {
			r.dec.unescape(line, false)
			r.search(r.dec.b, &r.dec)
			r.dec.unescape(line, true)
			r.search(r.dec.b, &r.dec)
		}
		if bytes.ContainsAny(line, "%+") {
			r.dec.urlDecode(line)
			r.search(r.dec.b, &r.dec)
		}
		if bytes.ContainsAny(line, `'"\`) {
			r.dec.shellDecode(line)
			r.search(r.dec.b, &r.dec)
		}
		r.dec.wipe()
	}
	w.mu.Unlock()
	if len(r.spans) == 0 {
		return append(dst, line...), true
	}
	slices.SortFunc(r.spans, func(a, b span) int { return a.from - b.from })
	last := 0
	for i := 0; i < len(r.spans); {
		s := r.spans[i]
		for i++; i < len(r.spans) && r.spans[i].from <= s.to; i++ {
			s.to = max(s.to, r.spans[i].to)
		}
		dst = append(dst, line[last:s.from]...)
		dst = append(dst, redactedMark...)
		last = s.to
	}
	return append(dst, line[last:]...), true
}

// search records the span of the line behind every secret found in text,
// which is the line itself when d is nil, else d's decoding of it. It is a
// Rabin-Karp search for each length a secret has. Callers hold w.mu.
func (r *redactor) search(text []byte, d *decoded) {
	w := r.w
	for n := range w.lens {
		if n > len(text) {
			continue
		}
		var pow uint64 = 1 // hashBase^(n-1)
		for range n - 1 {
			pow *= hashBase
		}
		var h uint64
		for _, c := range text[:n] {
			h = h*hashBase + uint64(c)
		}
		for i := 0; ; i++ {
			if w.mayHold(h) {
				for _, e := range w.byHash[h] {
					if len(e.b) == n && bytes.Equal(text[i:i+n], e.b) {
						s := span{i, i + n}
						if d != nil {
							s = span{int(d.from[i]), int(d.to[i+n-1])}
						}
						r.spans = append(r.spans, s)
					}
				}
			}
			if i+n >= len(text) {
				break
			}
			h = (h-uint64(text[i])*pow)*hashBase + uint64(text[i+n])
		}
	}
}
