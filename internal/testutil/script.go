package testutil

import (
	"os"
	"path/filepath"
	"testing"
)

// Script writes a helper script named name with text and mode into dir,
// and returns its path: the broken helpers (no #!, Windows line ends, not
// executable, ...) that tests start on purpose.
func Script(t testing.TB, dir, name, text string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(text), mode); err != nil {
		t.Fatal(err)
	}
	return path
}
