package penalty

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"log/slog"
	"net/netip"
	"testing"
	"testing/synctest"
	"unsafe"
)

// Keys and marks are keyed: the same names under another secret give
// other values, and fields never run into each other.
func TestKeysAreKeyed(t *testing.T) {
	a := newKeyer(bytes.Repeat([]byte{1}, 32))
	b := newKeyer(bytes.Repeat([]byte{2}, 32))
	p := netip.MustParsePrefix("192.0.2.1/32")
	if a.mark("alice", "example.com", "pw") != a.mark("alice", "example.com", "pw") {
		t.Error("a mark is not stable")
	}
	differ := []struct {
		name string
		x, y any
	}{
		{"mark, secret", a.mark("alice", "example.com", "pw"), b.mark("alice", "example.com", "pw")},
		{"user key, secret", a.user("alice", "example.com"), b.user("alice", "example.com")},
		{"pair key, secret", a.pair("alice", "example.com", p), b.pair("alice", "example.com", p)},
		{"address key, secret", a.addr(p), b.addr(p)},
		{"field boundary", a.user("ab", "c"), a.user("a", "bc")},
		{"mark, user", a.mark("alice", "example.com", "pw"), a.mark("bob", "example.com", "pw")},
		{"kinds", a.user("192.0.2.1/32", ""), a.addr(p)},
	}
	for _, d := range differ {
		if d.x == d.y {
			t.Errorf("%s: equal values %v", d.name, d.x)
		}
	}
}

// Keys and marks are HMAC-SHA256 over the domain and each field after its
// 4-byte length, the prefix as text: the values daemons sharing a store
// under one secret must agree on, whatever version of authpool each runs.
func TestKeyEncoding(t *testing.T) {
	secret := bytes.Repeat([]byte{3}, 32)
	k := newKeyer(secret)
	want := func(fields ...string) []byte {
		h := hmac.New(sha256.New, secret)
		for _, f := range fields {
			h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(f))))
			h.Write([]byte(f))
		}
		return h.Sum(nil)
	}
	for _, p := range []netip.Prefix{netip.MustParsePrefix("192.0.2.1/32"), netip.MustParsePrefix("2001:db8:1:2::/64")} {
		for range 2 { // the second from a reused state
			if got := k.addr(p); !bytes.Equal(got[:], want(addrDomain, p.String())[:16]) {
				t.Errorf("address key of %v: %x", p, got)
			}
			if got := k.pair("alice", "example.com", p); !bytes.Equal(got[:], want(pairDomain, "alice", "example.com", p.String())[:16]) {
				t.Errorf("pair key of %v: %x", p, got)
			}
		}
	}
	if got := k.user("alice", "example.com"); !bytes.Equal(got[:], want(userDomain, "alice", "example.com")[:16]) {
		t.Errorf("user key: %x", got)
	}
	if got := k.mark("alice", "example.com", "pw"); !bytes.Equal(got[:], want(markDomain, "alice", "example.com", "pw")[:8]) {
		t.Errorf("mark: %x", got)
	}
}

// No password reaches a log line or the store, nor a hash of one made
// without the secret.
func TestPasswordNeverKept(t *testing.T) {
	const password = "S3cret-P4ssw0rd"
	synctest.Test(t, func(t *testing.T) {
		var log bytes.Buffer
		store, err := NewMemoryStore(MemoryConfig{})
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range []slog.Handler{slog.NewTextHandler(&log, nil), slog.NewJSONHandler(&log, nil)} {
			g := newGuard(t, Config{Next: newHelper(0), Store: store, Logger: slog.New(h)})
			for _, c := range []string{"192.0.2.1", "", "2001:db8::1"} {
				g.Do(context.Background(), auth("alice", password, c))
				g.Do(context.Background(), auth("alice", password, c)) // and as a repeat
			}
		}
		if bytes.Contains(log.Bytes(), []byte(password)) || !bytes.Contains(log.Bytes(), []byte("alice")) {
			t.Errorf("log:\n%s", log.String())
		}
		plain := sha256.Sum256([]byte(password))
		memory := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(store.slots))), len(store.slots)*int(unsafe.Sizeof(slot{})))
		for _, bad := range [][]byte{[]byte(password), plain[:8], plain[len(plain)-8:]} {
			if bytes.Contains(memory, bad) {
				t.Errorf("the store holds %q", bad)
			}
		}
	})
}
