package framing

import "fmt"

// AnswerDecoder reads one answer at a time from a helper's output, which may
// arrive split across any number of reads. The zero value decodes Generic;
// set Protocol before the first Feed for ejabberd.
type AnswerDecoder struct {
	Protocol Protocol
	got      [4]byte // bytes of the answer in progress
	n        int
}

// Feed consumes bytes of the answer in progress from b. It returns the number
// of bytes consumed and, once the answer is complete, done with its value in
// yes; the decoder is then ready for the next answer. Bytes after a complete
// answer are not consumed: the caller decides what extra output means. Any
// byte that cannot continue a well-formed answer is an error wrapping
// ErrProtocol, after which the decoder must be Reset.
func (d *AnswerDecoder) Feed(b []byte) (n int, yes, done bool, err error) {
	for n < len(b) {
		c := b[n]
		n++
		if d.Protocol == Ejabberd {
			yes, done, err = d.feedEjabberd(c)
		} else {
			yes, done, err = d.feedGeneric(c)
		}
		if err != nil || done {
			return n, yes, done, err
		}
	}
	return n, false, false, nil
}

// Pending reports whether part of an answer has been read.
func (d *AnswerDecoder) Pending() bool { return d.n > 0 }

// Reset forgets any partial answer.
func (d *AnswerDecoder) Reset() { d.n = 0 }

func (d *AnswerDecoder) feedGeneric(c byte) (yes, done bool, err error) {
	switch {
	case d.n == 0 && (c == '0' || c == '1'):
	case d.n == 1 && c == '\r':
	case d.n >= 1 && c == '\n':
		yes = d.got[0] == '1'
		d.n = 0
		return yes, true, nil
	default:
		return d.fail()
	}
	d.got[d.n] = c
	d.n++
	return false, false, nil
}

func (d *AnswerDecoder) feedEjabberd(c byte) (yes, done bool, err error) {
	want := [3]byte{0, 2, 0}
	if d.n < 3 {
		if c != want[d.n] {
			return d.fail()
		}
		d.n++
		return false, false, nil
	}
	if c > 1 {
		return d.fail()
	}
	d.n = 0
	return c == 1, true, nil
}

func (d *AnswerDecoder) fail() (bool, bool, error) {
	at := d.n
	d.n = 0
	// Only the position is told, not the byte: a helper that echoes its
	// input would otherwise leak a password into an error string.
	return false, false, fmt.Errorf("%w: unexpected byte at offset %d of a %s answer", ErrProtocol, at, d.Protocol)
}
