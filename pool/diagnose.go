package pool

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// StartProblem is what kept a helper program from running, in the terms
// an operator fixes it by (DiagnoseStart, DiagnoseExit). The values are
// stable snake_case, like the rest of the vocabulary (vocabulary.go).
type StartProblem string

// The start problems.
const (
	StartNotFound      StartProblem = "not_found"      // no such file, or not in $PATH
	StartNotExecutable StartProblem = "not_executable" // no execute permission, a directory, a noexec mount, ...
	StartBadShebang    StartProblem = "bad_shebang"    // a #! line that names no usable interpreter path (none, \r\n line ends, relative), or no #! line at all
	StartNoInterpreter StartProblem = "no_interpreter" // the interpreter its #! line names is missing or not executable
	StartOtherProblem  StartProblem = "other"          // anything else: the text says what
)

// startCause explains why the program name (run in dir) could not be
// executed, for a log line or an error.
func startCause(name, dir string, err error) string {
	_, cause := DiagnoseStart(name, dir, err)
	return cause
}

// DiagnoseStart explains err, from starting the program name with dir as
// its working directory (ptyproc.Start), in the terms an operator fixes it
// by: the kind of problem, and a sentence that names what is wrong (the
// directory a relative path was looked up in, the file's mode, the
// interpreter its #! line names). exec reports a script whose #!
// interpreter is missing as "no such file or directory", naming the
// script, which exists: the worst of its messages.
func DiagnoseStart(name, dir string, err error) (StartProblem, string) {
	if errors.Is(err, exec.ErrNotFound) {
		return StartNotFound, "not found in $PATH"
	}
	if errors.Is(err, exec.ErrDot) {
		return StartNotFound, "found only relative to the current directory: give its path"
	}
	path := resolveProgram(name, dir)
	fi, serr := os.Stat(path)
	switch {
	case errors.Is(serr, fs.ErrNotExist) && !filepath.IsAbs(path):
		// A relative path is looked up from the helpers' working
		// directory: say which, for "it works from my shell".
		where := dir
		if where == "" {
			where, _ = os.Getwd()
		}
		return StartNotFound, fmt.Sprintf("no such file in %s (a relative path is looked up from the helpers' working directory: --dir, else authpool's own)", where)
	case errors.Is(serr, fs.ErrNotExist):
		return StartNotFound, "no such file"
	case errors.Is(serr, fs.ErrPermission):
		return StartNotExecutable, "permission denied: a directory on its path cannot be searched"
	case serr != nil:
		return StartOtherProblem, serr.Error()
	case fi.IsDir():
		return StartNotExecutable, "is a directory"
	case !fi.Mode().IsRegular():
		return StartNotExecutable, "not a regular file"
	case fi.Mode().Perm()&0o111 == 0:
		return StartNotExecutable, fmt.Sprintf("permission denied: not executable (mode %04o)", fi.Mode().Perm())
	}
	switch {
	case errors.Is(err, syscall.ENOENT), errors.Is(err, syscall.EACCES):
		if kind, cause := interpreterCause(path); cause != "" {
			return kind, cause
		}
		if errors.Is(err, syscall.EACCES) {
			return StartNotExecutable, "permission denied (a directory on its path, or a noexec mount)"
		}
		return StartOtherProblem, "exec found no such file, though the file exists"
	case errors.Is(err, syscall.ENOEXEC):
		return StartBadShebang, "not a program: neither a binary this system runs nor a script starting with #!"
	}
	return StartOtherProblem, err.Error()
}

// resolveProgram is the file exec runs for name, started in dir: looked up
// in $PATH when it has no slash, relative to dir when it is relative.
func resolveProgram(name, dir string) string {
	switch {
	case !strings.Contains(name, "/"):
		if lp, err := exec.LookPath(name); err == nil {
			return lp
		}
	case dir != "" && !filepath.IsAbs(name):
		return filepath.Join(dir, name)
	}
	return name
}

// shebang returns the interpreter a script's #! line names and the rest of
// the line; ok is false when the file does not start with #!.
func shebang(path string) (interp, args string, ok bool) {
	f, err := os.Open(path)
	if err != nil {
		return "", "", false
	}
	defer f.Close()
	head := make([]byte, 256)
	n, _ := io.ReadFull(f, head)
	line, _, _ := bytes.Cut(head[:n], []byte("\n"))
	rest, ok := bytes.CutPrefix(line, []byte("#!"))
	if !ok {
		return "", "", false
	}
	interp, args, _ = strings.Cut(strings.TrimLeft(string(rest), " \t"), " ")
	if i := strings.IndexByte(interp, '\t'); i >= 0 {
		interp, args = interp[:i], interp[i+1:]
	}
	return interp, strings.TrimSpace(args), true
}

// interpreterCause looks at a script's #! line for why exec failed; it is
// empty when the line names an interpreter that exists and is executable.
func interpreterCause(path string) (StartProblem, string) {
	interp, _, ok := shebang(path)
	if !ok {
		return "", ""
	}
	if strings.HasSuffix(interp, "\r") {
		return StartBadShebang, fmt.Sprintf("bad interpreter: its #! line ends in \\r (Windows line ends), so the interpreter it names is %q", interp)
	}
	fi, err := os.Stat(interp)
	switch {
	case interp == "":
		return StartBadShebang, "bad interpreter: its #! line names none"
	case !filepath.IsAbs(interp) && err != nil:
		return StartBadShebang, fmt.Sprintf("bad interpreter: its #! line names %q, not an absolute path (such as /usr/bin/env %s)", interp, interp)
	case errors.Is(err, fs.ErrNotExist):
		return StartNoInterpreter, fmt.Sprintf("bad interpreter: %s, named by its #! line, does not exist", interp)
	case err != nil:
		return StartNoInterpreter, fmt.Sprintf("bad interpreter: %s, named by its #! line: %v", interp, err)
	case fi.IsDir() || fi.Mode().Perm()&0o111 == 0:
		return StartNoInterpreter, fmt.Sprintf("bad interpreter: %s, named by its #! line, is not executable", interp)
	}
	return "", ""
}

// ExitCause says how a helper process ended, with what the shell's
// conventional statuses mean.
func ExitCause(st *os.ProcessState) string { return exitCause(st) }

// DiagnoseExit explains a helper program (name, started in dir with env
// added to its environment, as Config has them) that ended before its first
// answer, as st says. It recognises the one start problem that shows only
// as an exit: a script whose #! line runs env, which exits with status 127
// when the interpreter it is to find is not in the helper's $PATH
// (authpool's own, unless env sets one). Any other end gives "" and
// ExitCause's text.
func DiagnoseExit(name, dir string, env []string, st *os.ProcessState) (StartProblem, string) {
	if st == nil {
		return "", "still running"
	}
	if st.ExitCode() == 127 {
		interp, args, ok := shebang(resolveProgram(name, dir))
		if ok && filepath.Base(interp) == "env" {
			want, _, _ := strings.Cut(strings.TrimPrefix(args, "-S "), " ")
			path := os.Getenv("PATH")
			for _, kv := range env {
				if v, ok := strings.CutPrefix(kv, "PATH="); ok {
					path = v
				}
			}
			if want != "" && !strings.Contains(want, "/") && !inPath(want, path) {
				return StartNoInterpreter, fmt.Sprintf("bad interpreter: %s, which its #! line has env look for, is not in the helper's $PATH (%s)", want, path)
			}
		}
	}
	return "", exitCause(st)
}

// inPath reports whether an executable file name is in one of the
// directories of the $PATH value path.
func inPath(name, path string) bool {
	for _, d := range filepath.SplitList(path) {
		if d == "" {
			d = "."
		}
		fi, err := os.Stat(filepath.Join(d, name))
		if err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return true
		}
	}
	return false
}
