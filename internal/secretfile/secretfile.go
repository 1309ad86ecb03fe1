// Package secretfile reads files that hold secrets (credentials, private
// keys), refusing one that every local user can read: a secret anyone on
// the machine may already hold protects nothing.
package secretfile

import (
	"fmt"
	"io"
	"os"
)

// Read returns up to limit bytes of the regular file at path, unless
// others can read it.
func Read(path string, limit int64) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o004 != 0 {
		return nil, fmt.Errorf("%s is readable by every user (mode %#o): chmod o-r it", path, fi.Mode().Perm())
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	return io.ReadAll(io.LimitReader(fh, limit))
}
