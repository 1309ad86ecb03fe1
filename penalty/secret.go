package penalty

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// MinSecret is the shortest secret Config.Secret and ReadSecretFile take.
const MinSecret = 32

// maxSecretFile bounds what ReadSecretFile reads: a secret is a few dozen
// bytes, and a path naming a large file by mistake must not be read whole.
const maxSecretFile = 4096

// ErrSecretFile wraps every refusal of ReadSecretFile.
var ErrSecretFile = errors.New("penalty: unusable cluster secret file")

// ReadSecretFile reads the secret that daemons sharing a store share
// (--cluster-secret-file), for Config.Secret. The file must be a regular
// file owned by the user the daemon runs as, readable and writable by that
// user alone (no permission bit for group or others, as ssh asks of a
// private key): anyone who reads the secret can test guessed passwords
// against the marks in the shared store. A symbolic link is followed, and
// the file it leads to is what is checked.
//
// Trailing white space (a final newline) is dropped, so that a secret
// written by `openssl rand -hex 32 > FILE` or by an editor reads the same
// on every node; what remains must be at least MinSecret bytes. `head -c 32
// /dev/urandom > FILE` or `openssl rand -hex 32 > FILE`, then `chmod 600
// FILE`, make one.
//
// Errors name the path and the reason, never the content.
func ReadSecretFile(path string) ([]byte, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w %s: "+format, append([]any{ErrSecretFile, path}, args...)...)
	}
	// O_NONBLOCK: a FIFO put in the file's place must not hang the
	// daemon's start; it is refused below as not a regular file.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSecretFile, err)
	}
	defer f.Close()
	// The checks are made on the file opened, not on the path, so that
	// nothing can swap the file between the check and the read.
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSecretFile, err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	switch {
	case !fi.Mode().IsRegular():
		return nil, bad("not a regular file")
	case !ok:
		return nil, bad("cannot tell its owner")
	case int(st.Uid) != os.Geteuid():
		return nil, bad("owned by uid %d, not by the daemon's user (uid %d)", st.Uid, os.Geteuid())
	case fi.Mode().Perm()&0o077 != 0:
		return nil, bad("mode %04o lets others read or change it; chmod 600 it", fi.Mode().Perm())
	}
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSecretFile, err)
	}
	if len(b) > maxSecretFile {
		return nil, bad("longer than %d bytes: not a secret file", maxSecretFile)
	}
	secret := bytes.TrimRight(b, " \t\r\n")
	if len(secret) < MinSecret {
		return nil, bad("%d bytes, want at least %d", len(secret), MinSecret)
	}
	return secret, nil
}
