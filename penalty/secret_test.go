package penalty

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// ReadSecretFile takes only a file of the daemon's user that nobody else
// can read or change, and only a secret long enough; its errors never show
// what the file holds.
func TestReadSecretFile(t *testing.T) {
	const hexSecret = "3f1c9a2e7b5d40c8a1e6f2b9d7c3054e8a1b2c3d4e5f60718293a4b5c6d7e8f9"
	binary := bytes.Repeat([]byte{0xc3, 0x0a}, 16) // ends in a newline byte: 31 bytes once trimmed
	tests := []struct {
		name    string
		content []byte
		mode    os.FileMode
		setup   func(t *testing.T, path string) string // returns the path to read
		want    []byte                                 // nil: refused
		reason  string
	}{
		{name: "hex with a newline", content: []byte(hexSecret + "\n"), mode: 0o600, want: []byte(hexSecret)},
		{name: "read-only", content: []byte(hexSecret), mode: 0o400, want: []byte(hexSecret)},
		{name: "32 random bytes", content: bytes.Repeat([]byte{0x9e}, 32), mode: 0o600, want: bytes.Repeat([]byte{0x9e}, 32)},
		{name: "group may read", content: []byte(hexSecret), mode: 0o640, reason: "mode 0640"},
		{name: "others may read", content: []byte(hexSecret), mode: 0o604, reason: "mode 0604"},
		{name: "group may write", content: []byte(hexSecret), mode: 0o620, reason: "mode 0620"},
		{name: "short", content: []byte("0123456789abcdef0123456789abcde\n"), mode: 0o600, reason: "31 bytes"},
		{name: "short once trimmed", content: binary, mode: 0o600, reason: "31 bytes"},
		{name: "empty", content: nil, mode: 0o600, reason: "0 bytes"},
		{name: "too long", content: bytes.Repeat([]byte("a"), maxSecretFile+1), mode: 0o600, reason: "longer than"},
		{name: "missing", setup: func(t *testing.T, path string) string { return path + ".nothing" }, reason: "no such file"},
		{name: "directory", setup: func(t *testing.T, path string) string {
			os.Mkdir(path+".d", 0o700)
			return path + ".d"
		}, reason: "not a regular file"},
		{name: "fifo", setup: func(t *testing.T, path string) string {
			if err := syscall.Mkfifo(path+".fifo", 0o600); err != nil {
				t.Skip("mkfifo:", err)
			}
			return path + ".fifo"
		}, reason: "not a regular file"},
		{name: "link to a good file", content: []byte(hexSecret), mode: 0o600, setup: func(t *testing.T, path string) string {
			os.Symlink(path, path+".link")
			return path + ".link"
		}, want: []byte(hexSecret)},
		{name: "link to an open file", content: []byte(hexSecret), mode: 0o644, setup: func(t *testing.T, path string) string {
			os.Symlink(path, path+".link")
			return path + ".link"
		}, reason: "mode 0644"},
		{name: "another user's", content: []byte(hexSecret), mode: 0o600, setup: func(t *testing.T, path string) string {
			if os.Geteuid() != 0 {
				t.Skip("giving a file to another user needs root")
			}
			if err := os.Chown(path, 65534, 65534); err != nil {
				t.Fatal(err)
			}
			return path
		}, reason: "owned by uid 65534"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "secret")
			if tt.content != nil || tt.mode != 0 {
				if err := os.WriteFile(path, tt.content, 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(path, tt.mode); err != nil {
					t.Fatal(err)
				}
			}
			if tt.setup != nil {
				path = tt.setup(t, path)
			}
			got, err := ReadSecretFile(path)
			if tt.want != nil {
				if err != nil || !bytes.Equal(got, tt.want) {
					t.Errorf("ReadSecretFile = %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrSecretFile) || !strings.Contains(err.Error(), tt.reason) {
				t.Fatalf("ReadSecretFile = %q, %v; want ErrSecretFile saying %q", got, err, tt.reason)
			}
			if len(tt.content) > 0 && strings.Contains(err.Error(), string(tt.content[:16])) {
				t.Errorf("the error shows the file's content: %v", err)
			}
		})
	}
}

// A secret from the file keys a Guard; a short one does not.
func TestSecretFileKeysGuard(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(path, bytes.Repeat([]byte("k"), MinSecret), 0o600)
	secret, err := ReadSecretFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{Next: newHelper(0), Secret: secret}); err != nil {
		t.Errorf("New with the file's secret: %v", err)
	}
	if _, err := New(Config{Next: newHelper(0), Secret: secret[:MinSecret-1]}); !errors.Is(err, errConfig) {
		t.Errorf("New with a short secret: %v", err)
	}
}
