package testutil

import (
	"os"
	"testing"
)

// OpenFDs returns how many descriptors this process has open; it skips the
// test where /proc is not there to count them.
func OpenFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("cannot count open descriptors:", err)
	}
	return len(ents)
}
