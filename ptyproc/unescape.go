package ptyproc

import "unicode/utf8"

// decoded is a lenient decoding of a line, in which b[k] came from bytes
// from[k] to to[k] (exclusive) of the line. Anything that is not a known
// escape is kept as it is, so that a secret is found wherever some part of
// the line decodes to it.
type decoded struct {
	b        []byte
	from, to []int32
}

func (d *decoded) reset() {
	d.b, d.from, d.to = d.b[:0], d.from[:0], d.to[:0]
}

// wipe overwrites the decoding, which may hold secrets in the clear, and
// lets go of buffers grown for a long line.
func (d *decoded) wipe() {
	clear(d.b[:cap(d.b)])
	d.reset()
	if cap(d.b) > 16<<10 {
		d.b, d.from, d.to = nil, nil, nil
	}
}

func (d *decoded) emit(c byte, from, to int) {
	d.b = append(d.b, c)
	d.from = append(d.from, int32(from))
	d.to = append(d.to, int32(to))
}

func (d *decoded) emitRune(r rune, from, to int) {
	var buf [utf8.UTFMax]byte
	for _, c := range utf8.AppendRune(buf[:0], r) {
		d.emit(c, from, to)
	}
}

// unescape decodes backslash escapes; with runes, \xNN and octal escapes
// are code points (Python's repr of a str), else bytes.
func (d *decoded) unescape(in []byte, runes bool) {
	d.reset()
	for i := 0; i < len(in); {
		if in[i] == '\\' {
			if j := d.escape(in, i, runes); j > i {
				i = j
				continue
			}
		}
		d.emit(in[i], i, i+1)
		i++
	}
}

// escape decodes the escape at in[i], a backslash, and returns the index
// after it, or i if there is none it knows.
func (d *decoded) escape(in []byte, i int, runes bool) int {
	if i+1 >= len(in) {
		return i
	}
	code := func(v rune, j int) int {
		if !utf8.ValidRune(v) {
			return i
		}
		d.emitRune(v, i, j)
		return j
	}
	num := func(v rune, j int) int { // a byte or a code point, by flavour
		if runes {
			return code(v, j)
		}
		if v > 0xff {
			return i
		}
		d.emit(byte(v), i, j)
		return j
	}
	switch c := in[i+1]; c {
	case 'x', 'u':
		if i+2 < len(in) && in[i+2] == '{' { // \x{20ac}, \u{20ac}
			v, n := hexDigits(in[i+3:], 8)
			if n == 0 || i+3+n >= len(in) || in[i+3+n] != '}' {
				return i
			}
			return code(v, i+4+n)
		}
		if c == 'x' {
			v, n := hexDigits(in[i+2:], 2)
			if n == 0 {
				return i
			}
			return num(v, i+2+n)
		}
		v, n := hexDigits(in[i+2:], 4)
		if n != 4 {
			return i
		}
		j := i + 6
		switch {
		case v >= 0xdc80 && v <= 0xdcff: // Python's surrogateescape: a byte that was not UTF-8
			d.emit(byte(v-0xdc00), i, j)
			return j
		case v >= 0xd800 && v < 0xdc00: // a surrogate pair, as JSON writes astral code points
			if j+6 > len(in) || in[j] != '\\' || in[j+1] != 'u' {
				return i
			}
			lo, n := hexDigits(in[j+2:], 4)
			if n != 4 || lo < 0xdc00 || lo > 0xdfff {
				return i
			}
			return code(0x10000+(v-0xd800)<<10+(lo-0xdc00), j+6)
		}
		return code(v, j)
	case 'U':
		v, n := hexDigits(in[i+2:], 8)
		if n != 8 {
			return i
		}
		return code(v, i+10)
	case '0', '1', '2', '3', '4', '5', '6', '7':
		v, n := rune(0), 0
		for n < 3 && i+1+n < len(in) && in[i+1+n] >= '0' && in[i+1+n] <= '7' {
			v = v*8 + rune(in[i+1+n]-'0')
			n++
		}
		return num(v, i+1+n)
	}
	if c, ok := simpleEscapes[in[i+1]]; ok {
		d.emit(c, i, i+2)
		return i + 2
	}
	// \\, \', \", \/, and a shell's \ before anything: the character itself.
	d.emit(in[i+1], i, i+2)
	return i + 2
}

var simpleEscapes = map[byte]byte{
	'a': 7, 'b': 8, 't': 9, 'n': 10, 'v': 11, 'f': 12, 'r': 13, 'e': 27, 'E': 27,
}

// hexDigits reads up to max hex digits at the start of b.
func hexDigits(b []byte, max int) (v rune, n int) {
	for n < max && n < len(b) {
		c := b[n]
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return v, n
		}
		v = v<<4 | rune(c)
		n++
	}
	return v, n
}

// urlDecode decodes %XX and + (a space, in form encoding).
func (d *decoded) urlDecode(in []byte) {
	d.reset()
	for i := 0; i < len(in); {
		switch in[i] {
		case '%':
			if v, n := hexDigits(in[i+1:], 2); n == 2 {
				d.emit(byte(v), i, i+3)
				i += 3
				continue
			}
		case '+':
			d.emit(' ', i, i+1)
			i++
			continue
		}
		d.emit(in[i], i, i+1)
		i++
	}
}

// shellDecode removes a shell's quoting: '...', "..." (in which \ escapes
// only $ ` " \ and newline), $'...' (C escapes) and \ outside quotes.
func (d *decoded) shellDecode(in []byte) {
	d.reset()
	const (
		plain = iota
		single
		double
		ansi
	)
	state := plain
	for i := 0; i < len(in); {
		c := in[i]
		switch state {
		case plain:
			switch {
			case c == '\'':
				state, i = single, i+1
				continue
			case c == '"':
				state, i = double, i+1
				continue
			case c == '$' && i+1 < len(in) && in[i+1] == '\'':
				state, i = ansi, i+2
				continue
			case c == '\\' && i+1 < len(in):
				d.emit(in[i+1], i, i+2)
				i += 2
				continue
			}
		case single:
			if c == '\'' {
				state, i = plain, i+1
				continue
			}
		case double:
			if c == '"' {
				state, i = plain, i+1
				continue
			}
			if c == '\\' && i+1 < len(in) {
				switch in[i+1] {
				case '$', '`', '"', '\\', '\n':
					d.emit(in[i+1], i, i+2)
					i += 2
					continue
				}
			}
		case ansi:
			if c == '\'' {
				state, i = plain, i+1
				continue
			}
			if c == '\\' {
				if j := d.escape(in, i, false); j > i {
					i = j
					continue
				}
			}
		}
		d.emit(c, i, i+1)
		i++
	}
}
