package ptyproc

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// hostileDevptsEnv marks the re-executed test that runs in a mount
// namespace of its own, on a devpts mounted the way many distributions do
// (mode=620,gid=tty): there, a new pty's slave is writable by group tty.
const hostileDevptsEnv = "PTYPROC_TEST_HOSTILE_DEVPTS"

// TestPTYSlaveIsPrivate: whatever mode devpts gives new terminals, a
// helper's terminal is 0600, so no other user (group tty: write(1),
// wall(1)) can write into it or read from it.
func TestPTYSlaveIsPrivate(t *testing.T) {
	if os.Getenv(hostileDevptsEnv) == "1" {
		if err := mountHostileDevpts(); err != nil {
			t.Skipf("cannot mount a devpts here: %v", err)
		}
		if mode := plainPTYMode(t); mode&0o020 == 0 {
			t.Fatalf("devpts gives new terminals mode %o: not the hostile set-up", mode)
		}
	} else if os.Geteuid() == 0 {
		// Also run this test on a hostile devpts, in a mount namespace.
		t.Run("mode=620,gid=tty", func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestPTYSlaveIsPrivate$", "-test.count=1")
			cmd.Env = append(os.Environ(), hostileDevptsEnv+"=1")
			cmd.SysProcAttr = &unix.SysProcAttr{Unshareflags: unix.CLONE_NEWNS}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if strings.Contains(string(out), "--- SKIP") {
				t.Skipf("%s", out)
			}
		})
	}
	p := start(t, Config{Args: []string{"cat"}})
	fi, err := os.Stat(fmt.Sprintf("/proc/%d/fd/0", p.Pid()))
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("helper's terminal has mode %o, want 600", perm)
	}
}

// mountHostileDevpts mounts a new devpts instance with mode=620,gid=5 over
// /dev/pts, and its ptmx over /dev/ptmx, in this mount namespace.
func mountHostileDevpts() error {
	if err := unix.Mount("devpts", "/dev/pts", "devpts", 0, "newinstance,ptmxmode=0666,mode=620,gid=5"); err != nil {
		return err
	}
	return unix.Mount("/dev/pts/ptmx", "/dev/ptmx", "", unix.MS_BIND, "")
}

// plainPTYMode opens a pty the usual way (posix_openpt, unlockpt) and
// returns the mode its slave is created with.
func plainPTYMode(t *testing.T) uint32 {
	t.Helper()
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	n, err := unix.IoctlGetUint32(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Stat("/dev/pts/"+strconv.Itoa(int(n)), &st); err != nil {
		t.Fatal(err)
	}
	return st.Mode & 0o777
}
