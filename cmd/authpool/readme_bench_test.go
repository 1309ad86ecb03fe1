package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Every command of the README's "Load-testing your auth script" runs as
// written, in order, from a directory laid out as the repository root is
// after make build (bin/authpool being this test binary), and writes the
// files the text names.
func TestReadmeLoadTesting(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the README's load tests (half a minute)")
	}
	for _, tool := range []string{"bash", "python3", "perl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(readme)
	i := strings.Index(s, "## Load-testing your auth script")
	if i < 0 {
		t.Fatal("README has no section \"Load-testing your auth script\"")
	}
	sec := s[i:]
	if j := strings.Index(sec[3:], "\n## "); j >= 0 {
		sec = sec[:j+3]
	}
	var script strings.Builder
	for _, m := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(sec, -1) {
		script.WriteString(m[1])
	}
	if !strings.Contains(script.String(), "bench compare") || !strings.Contains(script.String(), "--html") {
		t.Fatalf("the section's commands lack a comparison or an HTML report:\n%s", script.String())
	}

	dir := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(dir, "bin"), 0o755)
	wrapper := "#!/bin/sh\n" + mainEnv + "=1 exec '" + self + "' \"$@\"\n"
	if err := os.WriteFile(filepath.Join(dir, "bin", "authpool"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Dir(scripts(t, "sample.py")), filepath.Join(dir, "testscripts")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script.String())
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the README's commands failed: %v\n%s", err, out)
	}
	for _, f := range []string{"users.txt", "python.jsonl", "python.hgrm", "python.html", "ramp.html", "perl.jsonl", "both.html"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s was not written: %v", f, err)
		}
	}
	for _, want := range []string{"breaking    ", "threshold   p99<1s", "spread of the rounds", "label       sample.pl"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the output lacks %q", want)
		}
	}
}
