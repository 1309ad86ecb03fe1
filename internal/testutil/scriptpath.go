package testutil

import (
	"path/filepath"
	"runtime"
	"testing"
)

// ScriptPath returns the absolute path of the helper script name in
// testscripts/, wherever the test runs from.
func ScriptPath(t testing.TB, name string) string {
	t.Helper()
	_, here, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot tell where testutil is")
	}
	return filepath.Join(filepath.Dir(here), "..", "..", "testscripts", name)
}
