package penalty

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"net/netip"
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
type keyer struct{ secret []byte }

// newSecret is a fresh per-process secret: 32 bytes from crypto/rand,
// never written anywhere.
func newSecret() []byte {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand, Go 1.24 and later)
	return b
}

func (k keyer) addr(p netip.Prefix) Key {
	return k.key(addrDomain, p.String())
}

func (k keyer) pair(user, server string, p netip.Prefix) Key {
	return k.key(pairDomain, user, server, p.String())
}

func (k keyer) user(user, server string) Key {
	return k.key(userDomain, user, server)
}

// mark is the mark of a wrong password. The hash state that saw the
// password is local and dropped on return.
func (k keyer) mark(user, server, password string) Mark {
	var m Mark
	copy(m[:], k.sum(markDomain, user, server, password))
	return m
}

func (k keyer) key(fields ...string) Key {
	var out Key
	copy(out[:], k.sum(fields...))
	return out
}

// sum is the HMAC of fields, each after its length, so that no two lists
// of fields share an encoding ("a:b"+"c" and "a"+"b:c" differ).
func (k keyer) sum(fields ...string) []byte {
	h := hmac.New(sha256.New, k.secret)
	for _, f := range fields {
		writeLen(h, len(f))
		h.Write([]byte(f))
	}
	return h.Sum(nil)
}

func writeLen(h hash.Hash, n int) {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(n))
	h.Write(b[:])
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
