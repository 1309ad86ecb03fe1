package pool

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authpool/authpool/internal/testutil"
)

// DiagnoseStart sorts what keeps a program from running into the kinds an
// operator fixes differently, and DiagnoseExit finds the one that shows
// only as an exit: env not finding the interpreter.
func TestDiagnoseStart(t *testing.T) {
	dir := t.TempDir()
	script := func(name, text string, mode os.FileMode) string { return testutil.Script(t, dir, name, text, mode) }
	for _, tt := range []struct {
		name string
		path string
		want StartProblem
		says string
	}{
		{"missing", filepath.Join(dir, "no-such-helper"), StartNotFound, "no such file"},
		{"relative, missing", "no-such-dir/helper", StartNotFound, "no such file in " + mustGetwd(t)},
		{"not in PATH", "authpool-no-such-helper", StartNotFound, "not found in $PATH"},
		{"not executable", script("noexec.sh", "#!/bin/sh\n", 0o644), StartNotExecutable, "mode 0644"},
		{"directory", dir, StartNotExecutable, "is a directory"},
		{"windows line ends", script("crlf.sh", "#!/bin/sh\r\n", 0o755), StartBadShebang, "Windows line ends"},
		{"no #! line", script("none.sh", "echo 0\n", 0o755), StartBadShebang, "not a program"},
		{"relative interpreter", script("rel.py", "#!authpool-python\n", 0o755), StartBadShebang, "not an absolute path"},
		{"missing interpreter", script("gone.py", "#!/nonexistent/python3\n", 0o755), StartNoInterpreter, "/nonexistent/python3"},
		{"interpreter not executable", script("noexecinterp.sh", "#!"+script("interp", "", 0o644)+"\n", 0o755), StartNoInterpreter, "is not executable"},
	} {
		err := exec.Command(tt.path).Start()
		if err == nil {
			t.Fatalf("%s: started", tt.name)
		}
		kind, cause := DiagnoseStart(tt.path, "", err)
		if kind != tt.want || !strings.Contains(cause, tt.says) {
			t.Errorf("%s: %s %q, want %s saying %q", tt.name, kind, cause, tt.want, tt.says)
		}
	}

	env := script("env.py", "#!/usr/bin/env authpool-no-such-python -u\n", 0o755)
	exit := script("exit.sh", "#!/bin/sh\nexit 127\n", 0o755)
	for _, tt := range []struct {
		name string
		path string
		env  []string
		want StartProblem
		says string
	}{
		{"env finds no interpreter", env, nil, StartNoInterpreter, "authpool-no-such-python, which its #! line has env look for"},
		{"the helper's own PATH", env, []string{"PATH=/authpool-nowhere"}, StartNoInterpreter, "(/authpool-nowhere)"},
		{"some other 127", exit, nil, "", "status 127"},
	} {
		cmd := exec.Command(tt.path)
		if len(tt.env) > 0 {
			cmd.Env = tt.env
		}
		cmd.Run()
		kind, cause := DiagnoseExit(tt.path, "", tt.env, cmd.ProcessState)
		if kind != tt.want || !strings.Contains(cause, tt.says) {
			t.Errorf("%s: %s %q, want %q saying %q", tt.name, kind, cause, tt.want, tt.says)
		}
	}
}
