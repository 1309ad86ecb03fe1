package penalty

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"net/netip"
	"sync"
)

// Domains keep the four kinds of hash apart under one secret.
const (
	addrDomain = "authpool penalty address v1"
	pairDomain = "authpool penalty pair v1"
	userDomain = "authpool penalty user v1"
	markDomain = "authpool penalty mark v1"
)

// keyer makes keys and marks: HMAC-SHA256 under a secret, cut to the
// size of a Key or a Mark. 128 bits keep keys apart among any number a
// store can hold; 64 bits keep a user's last few wrong passwords apart.
// Every field is hashed after its length, so that no two lists of fields
// share an encoding ("a:b"+"c" and "a"+"b:c" differ).
type keyer struct {
	secret []byte
	// macs holds keyed HMAC states with a scratch buffer, reused for
	// keys, which every password check makes three of: a fresh one costs
	// five allocations. Marks never use them: a reused state would keep a
	// password's bytes in its buffers after the check.
	macs *sync.Pool
}

type keyMAC struct {
	mac hash.Hash
	buf []byte
	out [sha256.Size]byte
}

func newKeyer(secret []byte) keyer {
	return keyer{secret: secret, macs: &sync.Pool{New: func() any {
		return &keyMAC{mac: hmac.New(sha256.New, secret), buf: make([]byte, 0, 128)}
	}}}
}

// newSecret is a fresh per-process secret: 32 bytes from crypto/rand,
// never written anywhere.
func newSecret() []byte {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand, Go 1.24 and later)
	return b
}

func (k keyer) addr(p netip.Prefix) Key {
	m := k.macs.Get().(*keyMAC)
	m.buf = appendPrefix(appendField(m.buf[:0], addrDomain), p)
	return k.key(m)
}

func (k keyer) pair(user, server string, p netip.Prefix) Key {
	m := k.macs.Get().(*keyMAC)
	m.buf = appendPrefix(appendField(appendField(appendField(m.buf[:0], pairDomain), user), server), p)
	return k.key(m)
}

func (k keyer) user(user, server string) Key {
	m := k.macs.Get().(*keyMAC)
	m.buf = appendField(appendField(appendField(m.buf[:0], userDomain), user), server)
	return k.key(m)
}

// key hashes m.buf and puts m back.
func (k keyer) key(m *keyMAC) Key {
	m.mac.Reset()
	m.mac.Write(m.buf)
	var out Key
	copy(out[:], m.mac.Sum(m.out[:0]))
	if cap(m.buf) <= 4096 { // a huge name's buffer is not kept
		k.macs.Put(m)
	}
	return out
}

// mark is the mark of a wrong password, made only when a check fails. The
// hash state and buffer that saw the password are its own and dropped on
// return.
func (k keyer) mark(user, server, password string) Mark {
	buf := appendField(appendField(appendField(appendField(nil, markDomain), user), server), password)
	h := hmac.New(sha256.New, k.secret)
	h.Write(buf)
	clear(buf)
	var m Mark
	copy(m[:], h.Sum(nil))
	return m
}

func appendField(b []byte, f string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
	return append(b, f...)
}

// appendPrefix is appendField(b, p.String()) without the string.
func appendPrefix(b []byte, p netip.Prefix) []byte {
	at := len(b)
	b = p.AppendTo(append(b, 0, 0, 0, 0))
	binary.BigEndian.PutUint32(b[at:], uint32(len(b)-at-4))
	return b
}

// client is the address a request's penalties are kept for: IPv4 (or
// IPv4-mapped IPv6) alone, IPv6 by the prefix of bits given, since one
// machine commonly holds a whole /64 and could take a fresh address for
// every guess. The zone is dropped: the caller may have chosen it. The
// second result is the address as logged: unmapped, without zone, whole.
func client(a netip.Addr, v6bits int) (netip.Prefix, netip.Addr, bool) {
	if !a.IsValid() {
		return netip.Prefix{}, netip.Addr{}, false
	}
	a = a.Unmap().WithZone("")
	bits := 32
	if a.Is6() {
		bits = v6bits
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return netip.Prefix{}, netip.Addr{}, false
	}
	return p, a, true
}
