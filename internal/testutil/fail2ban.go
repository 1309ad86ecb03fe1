package testutil

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Fail2banIPs runs Debian's fail2ban-regex with contrib/fail2ban's filter
// over log and returns the addresses it would ban, one per matching line,
// in order. It skips the test when fail2ban-regex is not installed.
func Fail2banIPs(t testing.TB, log []byte) []string {
	t.Helper()
	regex, err := exec.LookPath("fail2ban-regex")
	if err != nil {
		t.Skip("fail2ban-regex not found: apt-get install fail2ban (.ci/run installs it) to test the fail2ban filter")
	}
	_, here, _, _ := runtime.Caller(0)
	filter := filepath.Join(filepath.Dir(here), "..", "..", "contrib", "fail2ban", "filter.d", "authpool.conf")
	file := filepath.Join(t.TempDir(), "authpool.log")
	if err := os.WriteFile(file, log, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, regex, "-o", "ip", file, filter).CombinedOutput()
	if err != nil {
		t.Fatalf("fail2ban-regex: %v\n%s", err, out)
	}
	return strings.Fields(string(out))
}
