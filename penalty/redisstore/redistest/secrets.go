package redistest

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
)

// Secrets are what a test told a store and Redis must never hold.
type Secrets struct {
	// Text is looked for as it is, in any case: the cluster secret, an
	// address, a server name.
	Text map[string][]byte
	// Passwords and Users are looked for themselves, and as the unkeyed
	// hashes anyone could compute from a guess: SHA-256, SHA-1 and MD5 of
	// the password alone, of the user alone, and of the fields together
	// as user@Server and user:Server:password, whole or cut to 8 or 16
	// bytes, raw and in hex.
	Passwords, Users []string
	Server           string
}

// CheckNothingSecret scans all s holds and was told (Contents: every key,
// value and DUMP, its append-only file, every command MONITOR saw) for
// secrets, and fails t for each one found.
func (s *Server) CheckNothingSecret(t testing.TB, secrets Secrets) {
	t.Helper()
	contents := s.Contents()
	if len(contents) < 1000 {
		t.Fatalf("only %d bytes scanned: the scan saw nothing", len(contents))
	}
	lower := bytes.ToLower(contents)
	text := map[string][]byte{}
	for name, v := range secrets.Text {
		text[name] = v
	}
	raw := map[string][]byte{}
	var inputs []string
	for _, u := range secrets.Users {
		text["user "+u] = []byte(u)
		inputs = append(inputs, u, u+"@"+secrets.Server)
	}
	for _, pw := range secrets.Passwords {
		text["password "+pw] = []byte(pw)
		inputs = append(inputs, pw)
		for _, u := range secrets.Users {
			inputs = append(inputs, u+pw, u+":"+secrets.Server+":"+pw, u+"@"+secrets.Server+":"+pw)
		}
	}
	for _, in := range inputs {
		s256, s1, m5 := sha256.Sum256([]byte(in)), sha1.Sum([]byte(in)), md5.Sum([]byte(in))
		for name, sum := range map[string][]byte{"sha256": s256[:], "sha1": s1[:], "md5": m5[:]} {
			for _, n := range []int{8, 16, len(sum)} {
				raw[fmt.Sprintf("%s(%q)[:%d]", name, in, n)] = sum[:n]
				text[fmt.Sprintf("hex %s(%q)[:%d]", name, in, n)] = []byte(hex.EncodeToString(sum[:n]))
			}
		}
	}
	for name, needle := range text {
		if bytes.Contains(lower, bytes.ToLower(needle)) {
			t.Errorf("Redis holds %s", name)
		}
	}
	for name, needle := range raw {
		if bytes.Contains(contents, needle) {
			t.Errorf("Redis holds %s", name)
		}
	}
	t.Logf("scanned %d bytes of Redis keys, values, dumps, append-only file and MONITOR records for %d needles",
		len(contents), len(text)+len(raw))
}
