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

// startCause explains why the program name (run in dir) could not be
// executed, in the terms an operator fixes it by. exec reports a script
// whose #! interpreter is missing as "no such file or directory", naming
// the script, which exists: the worst of its messages.
func startCause(name, dir string, err error) string {
	if errors.Is(err, exec.ErrNotFound) {
		return "not found in $PATH"
	}
	if errors.Is(err, exec.ErrDot) {
		return "found only relative to the current directory: give its path"
	}
	path := name
	switch {
	case !strings.Contains(name, "/"):
		if lp, lerr := exec.LookPath(name); lerr == nil {
			path = lp
		}
	case dir != "" && !filepath.IsAbs(name):
		path = filepath.Join(dir, name)
	}
	fi, serr := os.Stat(path)
	switch {
	case errors.Is(serr, fs.ErrNotExist) && !filepath.IsAbs(path):
		// A relative path is looked up from the helpers' working
		// directory: say which, for "it works from my shell".
		where := dir
		if where == "" {
			where, _ = os.Getwd()
		}
		return fmt.Sprintf("no such file in %s (a relative path is looked up from the helpers' working directory: --dir, else authpool's own)", where)
	case errors.Is(serr, fs.ErrNotExist):
		return "no such file"
	case errors.Is(serr, fs.ErrPermission):
		return "permission denied: a directory on its path cannot be searched"
	case serr != nil:
		return serr.Error()
	case fi.IsDir():
		return "is a directory"
	case !fi.Mode().IsRegular():
		return "not a regular file"
	case fi.Mode().Perm()&0o111 == 0:
		return fmt.Sprintf("permission denied: not executable (mode %04o)", fi.Mode().Perm())
	}
	switch {
	case errors.Is(err, syscall.ENOENT), errors.Is(err, syscall.EACCES):
		if cause := interpreterCause(path); cause != "" {
			return cause
		}
		if errors.Is(err, syscall.EACCES) {
			return "permission denied (a directory on its path, or a noexec mount)"
		}
		return "exec found no such file, though the file exists"
	case errors.Is(err, syscall.ENOEXEC):
		return "not a program: neither a binary this system runs nor a script starting with #!"
	}
	return err.Error()
}

// interpreterCause looks at a script's #! line for why exec failed; it is
// empty when the line names an interpreter that exists and is executable.
func interpreterCause(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	head := make([]byte, 256)
	n, _ := io.ReadFull(f, head)
	line, _, _ := bytes.Cut(head[:n], []byte("\n"))
	rest, ok := bytes.CutPrefix(line, []byte("#!"))
	if !ok {
		return ""
	}
	interp, _, _ := strings.Cut(strings.TrimLeft(string(rest), " \t"), " ")
	interp, _, _ = strings.Cut(interp, "\t")
	if strings.HasSuffix(interp, "\r") {
		return fmt.Sprintf("bad interpreter: its #! line ends in \\r (Windows line ends), so the interpreter it names is %q", interp)
	}
	fi, err := os.Stat(interp)
	switch {
	case interp == "":
		return "bad interpreter: its #! line names none"
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Sprintf("bad interpreter: %s, named by its #! line, does not exist", interp)
	case err != nil:
		return fmt.Sprintf("bad interpreter: %s, named by its #! line: %v", interp, err)
	case fi.IsDir() || fi.Mode().Perm()&0o111 == 0:
		return fmt.Sprintf("bad interpreter: %s, named by its #! line, is not executable", interp)
	}
	return ""
}
