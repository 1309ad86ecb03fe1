package redistest

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// IntFields is each key under prefix's hash field, as a number: the count
// of failures ("f") of each penalty key, say. Keys that expire meanwhile,
// or lack the field, are left out.
func (s *Server) IntFields(prefix, field string) map[string]int {
	s.t.Helper()
	out := map[string]int{}
	for _, k := range s.Keys() {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		if v, err := s.Do("HGET", k, field).ToString(); err == nil {
			out[k], _ = strconv.Atoi(v)
		}
	}
	return out
}

// Holds searches Contents for what must never reach Redis and returns a
// line for each thing found: each of plain as text, in any case; and the
// unkeyed hashes anyone could compute from a guess of each of hashed
// (SHA-256, SHA-1 and MD5; in hex, in any case, and raw; whole and cut to
// 8 and 16 bytes, the lengths of a mark and a key). It fails the test when
// Redis holds under 1000 bytes: a scan of nothing proves nothing.
func (s *Server) Holds(plain, hashed []string) []string {
	s.t.Helper()
	contents := s.Contents()
	if len(contents) < 1000 {
		s.t.Fatalf("redistest: only %d bytes of Redis scanned: the scan saw nothing", len(contents))
	}
	lower := bytes.ToLower(contents)
	var found []string
	for _, p := range plain {
		if bytes.Contains(lower, bytes.ToLower([]byte(p))) {
			found = append(found, fmt.Sprintf("%q", p))
		}
	}
	for _, in := range hashed {
		s256, s1, m5 := sha256.Sum256([]byte(in)), sha1.Sum([]byte(in)), md5.Sum([]byte(in))
		for name, h := range map[string][]byte{"sha256": s256[:], "sha1": s1[:], "md5": m5[:]} {
			for _, n := range []int{8, 16, len(h)} {
				if bytes.Contains(contents, h[:n]) || bytes.Contains(lower, []byte(hex.EncodeToString(h[:n]))) {
					found = append(found, fmt.Sprintf("%s(%q)[:%d]", name, in, n))
				}
			}
		}
	}
	s.t.Logf("redistest: scanned %d bytes of Redis keys, values, dumps and files for %d texts and the hashes of %d", len(contents), len(plain), len(hashed))
	return found
}

// Uniform reports whether Redis holds exactly keys keys under prefix,
// each with field n, and returns what it holds, for the error.
func (s *Server) Uniform(prefix, field string, keys, n int) (map[string]int, bool) {
	s.t.Helper()
	got := s.IntFields(prefix, field)
	ok := len(got) == keys
	for _, v := range got {
		ok = ok && v == n
	}
	return got, ok
}
