package client

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLeanDependencies: a program that only talks to the daemon must not
// link the code that runs helpers (ptyproc, the pty library, the pool).
func TestLeanDependencies(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not found:", err)
	}
	out, err := exec.Command(gobin, "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		switch dep {
		case "github.com/authpool/authpool/ptyproc", "github.com/creack/pty", "github.com/authpool/authpool/pool":
			t.Errorf("client depends on %s", dep)
		}
	}
}
