package cache

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"testing"

	"github.com/authpool/authpool/framing"
)

// TestKeysUnambiguous: requests that would read the same if their fields
// were joined get different keys, and so do the same request under two
// caches (two processes).
func TestKeysUnambiguous(t *testing.T) {
	k := newSecretKey()
	req := func(op framing.Op, user, server, pw string) framing.Request {
		return framing.Request{Op: op, User: user, Server: server, Password: pw}
	}
	for _, tc := range []struct {
		name string
		a, b framing.Request
	}{
		{"user and server", req(framing.OpIsUser, "a:b", "c", ""), req(framing.OpIsUser, "a", "b:c", "")},
		{"server and password", req(framing.OpAuth, "u", "s:p", "q"), req(framing.OpAuth, "u", "s", "p:q")},
		{"user and password", req(framing.OpAuth, "ab", "s", "c"), req(framing.OpAuth, "a", "s", "bc")},
		{"lengths moved", req(framing.OpAuth, "u\x00\x00\x00\x01", "s", ""), req(framing.OpAuth, "u", "\x00\x00\x00\x01s", "")},
		{"op", req(framing.OpAuth, "u", "s", ""), req(framing.OpIsUser, "u", "s", "")},
		{"password case", req(framing.OpAuth, "u", "s", "pw"), req(framing.OpAuth, "u", "s", "PW")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if k.entry(tc.a) == k.entry(tc.b) {
				t.Errorf("%q and %q share a key", tc.a.User+"|"+tc.a.Server+"|"+tc.a.Password, tc.b.User+"|"+tc.b.Server+"|"+tc.b.Password)
			}
		})
	}
	t.Run("user index", func(t *testing.T) {
		if k.user("a:b", "c") == k.user("a", "b:c") {
			t.Error("user keys collide")
		}
		if k.user("u", "s") != k.user("u", "s") {
			t.Error("user key not stable")
		}
	})
	t.Run("domains", func(t *testing.T) {
		// An isuser entry and the user's index key cover the same fields.
		if k.entry(req(framing.OpIsUser, "u", "s", "")) == k.user("u", "s") {
			t.Error("entry key equals user key")
		}
	})
	t.Run("per process", func(t *testing.T) {
		r := req(framing.OpAuth, "u", "s", "p")
		if k2 := newSecretKey(); k2 == k || k2.entry(r) == k.entry(r) {
			t.Error("two keys agree")
		}
	})
}

// TestDerivedKey: caches given one secret compute the same keys (daemons
// of a cluster), another secret other keys, and none is a hash penalty
// makes under the secret itself (HMAC-SHA256 of its length-prefixed
// fields), whatever the domain.
func TestDerivedKey(t *testing.T) {
	secret := []byte("a-cluster-secret-of-32-bytes-or-more")
	a, b, other := deriveKey(secret), deriveKey(secret), deriveKey(append([]byte("x"), secret...))
	req := framing.Request{Op: framing.OpAuth, User: "alice", Server: "example.com", Password: "pw"}
	if a.entry(req) != b.entry(req) || a.user("alice", "example.com") != b.user("alice", "example.com") {
		t.Fatal("one secret, two keys")
	}
	if a.entry(req) == other.entry(req) {
		t.Fatal("two secrets, one key")
	}
	raw := secretKey(secret[:32])
	for _, domain := range []string{userDomain, "authpool penalty user v1"} {
		h := hmac.New(sha256.New, secret)
		writeFields(h, domain, "alice", "example.com")
		under := sum(h)
		if got := a.user("alice", "example.com"); bytes.Equal(got[:16], under[:16]) || got == raw.user("alice", "example.com") {
			t.Errorf("the cache's user key is a hash under the secret itself (%s)", domain)
		}
	}
}
