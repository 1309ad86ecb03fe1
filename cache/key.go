package cache

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"io"

	"github.com/authpool/authpool/framing"
)

// secretKey is the HMAC key of the cache's keys: the process's own,
// never written anywhere, or derived from the cluster's secret.
type secretKey [sha256.Size]byte

// Domain prefixes keep entry keys and user keys apart under the same key.
const (
	entryDomain = "authpool cache entry v1"
	userDomain  = "authpool cache user v1"
	// deriveDomain makes the cache's key from the cluster secret, which
	// penalty also keys its hashes with: the cache's hashes are made
	// under another key, so none can equal one of penalty's.
	deriveDomain = "authpool cache key v1"
)

func newSecretKey() secretKey {
	var k secretKey
	rand.Read(k[:]) // never fails (crypto/rand, Go 1.24 and later)
	return k
}

// deriveKey is the cache's key from the cluster's secret.
func deriveKey(secret []byte) secretKey {
	h := hmac.New(sha256.New, secret)
	writeFields(h, deriveDomain)
	return secretKey(sum(h))
}

// entry is the key of req's answer: HMAC over op, user, server and
// password. The hash state, which holds the last bytes written, is local
// and dropped on return: nothing that saw the password is kept.
func (k *secretKey) entry(req framing.Request) Key {
	h := hmac.New(sha256.New, k[:])
	writeFields(h, entryDomain, req.Op.String(), req.User, req.Server, req.Password)
	return sum(h)
}

// user is the key of user@server's record in the user index.
func (k *secretKey) user(user, server string) Key {
	h := hmac.New(sha256.New, k[:])
	writeFields(h, userDomain, user, server)
	return sum(h)
}

// writeFields writes each field after its length (4 bytes, big-endian), so
// the encoding of a list of fields is never that of another list.
func writeFields(h hash.Hash, fields ...string) {
	var n [4]byte
	for _, f := range fields {
		binary.BigEndian.PutUint32(n[:], uint32(len(f)))
		h.Write(n[:])
		io.WriteString(h, f)
	}
}

func sum(h hash.Hash) Key {
	var d Key
	copy(d[:], h.Sum(nil))
	return d
}
