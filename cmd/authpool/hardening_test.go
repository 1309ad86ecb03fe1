package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	authpoold "github.com/authpool/authpool/internal/daemon"
	"golang.org/x/sys/unix"
)

// TestDaemonWritesNoCore: started by someone who allows core dumps (the
// attack: ulimit -c unlimited, then SIGABRT), the daemon still writes none,
// and its memory cannot be read by a process of the same user.
func TestDaemonWritesNoCore(t *testing.T) {
	socket := filepath.Join(t.TempDir(), "authpool.sock")
	cmd := exec.Command("sh", "-c", `ulimit -c unlimited 2>/dev/null; exec "$0" "$@"`, os.Args[0],
		"serve", "--socket", socket, "--log-level", "debug", "--", scripts(t, "misbehave.py"))
	cmd.Env = append(os.Environ(), mainEnv+"=1", noPtraceEnv+"=1")
	d := startDaemonCmd(t, cmd, socket)
	c := d.dial()
	mark := secretMark + "-core-"
	c.want("auth:alice:example.com:"+mark+"auth", "0")
	c.want("setpass:alice:example.com:"+mark+"setpass", "1")
	pid := d.cmd.Process.Pid

	soft, hard := coreLimit(t, pid)
	if soft != "0" || hard != "0" {
		t.Errorf("RLIMIT_CORE of the daemon is %s (hard %s), want 0: a crash would write its memory to disk", soft, hard)
	}
	// Not dumpable: /proc/PID/mem refuses a reader of the same user without
	// CAP_SYS_PTRACE. (Dumpable is not shown in /proc/PID/status.)
	if err := openWithoutPtrace(fmt.Sprintf("/proc/%d/mem", pid)); err == nil {
		t.Error("the daemon's memory can be read by its own user: it is dumpable")
	}
	// What a core would have held, measured (not asserted: Go strings and
	// freed buffers cannot be wiped; see docs/SECURITY.md).
	for _, pw := range []string{mark + "auth", mark + "setpass"} {
		if n, err := countInMemory(pid, []byte(pw), 10*time.Second); err == nil {
			t.Logf("copies of %s in the daemon's memory: %d", pw, n)
		}
	}
}

// noPtraceEnv makes the test binary drop CAP_SYS_PTRACE for good and
// exec itself again: run as root, the daemon then holds no capability that
// openWithoutPtrace's thread lacks, so that thread is "another process of
// the same user", whom only dumpability keeps out.
const noPtraceEnv = "AUTHPOOL_TEST_NO_PTRACE"

func init() {
	if os.Getenv(noPtraceEnv) != "1" {
		return
	}
	os.Unsetenv(noPtraceEnv)
	runtime.LockOSThread() // the capabilities and the exec are this thread's
	if os.Geteuid() == 0 {
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, unix.CAP_SYS_PTRACE, 0, 0, 0); err != nil {
			fmt.Fprintln(os.Stderr, "drop CAP_SYS_PTRACE from the bounding set:", err)
			os.Exit(1)
		}
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err == nil {
			data[0].Inheritable &^= 1 << unix.CAP_SYS_PTRACE
			unix.Capset(&hdr, &data[0])
		}
	}
	err := unix.Exec(os.Args[0], os.Args, os.Environ())
	fmt.Fprintln(os.Stderr, "exec:", err)
	os.Exit(1)
}

// coreLimit reads the soft and hard RLIMIT_CORE of pid.
func coreLimit(t *testing.T, pid int) (soft, hard string) {
	t.Helper()
	for _, line := range strings.Split(readFile(t, fmt.Sprintf("/proc/%d/limits", pid)), "\n") {
		if rest, ok := strings.CutPrefix(line, "Max core file size"); ok {
			f := strings.Fields(rest)
			if len(f) >= 2 {
				return f[0], f[1]
			}
		}
	}
	t.Fatalf("no core limit in /proc/%d/limits", pid)
	return "", ""
}

// openWithoutPtrace opens path on a thread that lacks CAP_SYS_PTRACE, as any
// other process of the daemon's user would.
func openWithoutPtrace(path string) error {
	errc := make(chan error, 1)
	go func() {
		// Capabilities belong to a thread. This one is never unlocked, so
		// it ends with the goroutine and no other code runs without the
		// capability.
		runtime.LockOSThread()
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			errc <- err
			return
		}
		data[0].Effective &^= 1 << unix.CAP_SYS_PTRACE
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			errc <- fmt.Errorf("capset: %w", err)
			return
		}
		f, err := os.Open(path)
		if err == nil {
			f.Close()
		}
		errc <- err
	}()
	return <-errc
}

// countInMemory counts mark in the readable memory of pid, within limit.
func countInMemory(pid int, mark []byte, limit time.Duration) (int, error) {
	maps, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return 0, err
	}
	mem, err := os.Open(fmt.Sprintf("/proc/%d/mem", pid))
	if err != nil {
		return 0, err
	}
	defer mem.Close()
	deadline := time.Now().Add(limit)
	n := 0
	buf := make([]byte, 1<<20)
	for _, line := range strings.Split(string(maps), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[1][0] != 'r' || (len(f) >= 6 && strings.HasPrefix(f[5], "[v")) {
			continue
		}
		lo, hi, _ := strings.Cut(f[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		for off := start; off < end; {
			if time.Now().After(deadline) {
				return n, fmt.Errorf("memory scan cut short")
			}
			size := min(uint64(len(buf)), end-off)
			got, _ := mem.ReadAt(buf[:size], int64(off))
			n += bytes.Count(buf[:got], mark)
			if got == 0 {
				break
			}
			// Overlap by len(mark)-1 so a copy across chunks is counted.
			step := uint64(got)
			if off+step < end && step > uint64(len(mark)) {
				step -= uint64(len(mark) - 1)
			}
			off += step
		}
	}
	return n, nil
}

// TestHelpersGetOnlyStdio: descriptors the daemon inherits without
// close-on-exec never reach a helper, with or without socket activation,
// and the activated socket still works.
func TestHelpersGetOnlyStdio(t *testing.T) {
	for _, activated := range []bool{false, true} {
		t.Run(fmt.Sprintf("activated=%v", activated), func(t *testing.T) {
			dir := t.TempDir()
			stray, err := os.Create(filepath.Join(dir, "stray"))
			if err != nil {
				t.Fatal(err)
			}
			defer stray.Close()
			socket := filepath.Join(dir, "authpool.sock")
			cmd := exec.Command("sh", "-c", `LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@"`, os.Args[0],
				"serve", "--socket", socket, "--processes", "2", "--log-level", "debug",
				"--", scripts(t, "sample.py"))
			cmd.Env = append(os.Environ(), mainEnv+"=1")
			// ExtraFiles arrive as fd 3, 4, ... without close-on-exec.
			cmd.ExtraFiles = []*os.File{stray}
			if activated {
				l, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(dir, "activated.sock"), Net: "unix"})
				if err != nil {
					t.Fatal(err)
				}
				lf, err := l.File()
				if err != nil {
					t.Fatal(err)
				}
				l.SetUnlinkOnClose(false)
				l.Close()
				defer lf.Close()
				socket = filepath.Join(dir, "activated.sock")
				cmd.Env = append(cmd.Env, "LISTEN_FDS=1", "LISTEN_FDNAMES=main")
				cmd.ExtraFiles = []*os.File{lf, stray} // systemd's sockets come first
			}
			d := startDaemonCmd(t, cmd, socket)
			// Both helpers answer first: a Python helper still starting
			// has its own script open.
			r := answeredByAll(t, d.dial(), socket, "auth:alice:example.com:wonderland", "1")
			for _, h := range r.Helpers {
				fds := helperFDs(t, h.PID)
				if !slices.Equal(slices.Sorted(mapsKeys(fds)), []int{0, 1, 2}) {
					t.Errorf("helper %d has descriptors %v, want only 0, 1, 2", h.PID, fds)
				}
			}
		})
	}
}

// answeredByAll asks line, pipelined, until every helper has answered one
// since the first status, and returns the last status.
func answeredByAll(t *testing.T, c *sockClient, socket, line, want string) authpoold.Status {
	t.Helper()
	before := map[int]int64{}
	for _, h := range statusOf(t, socket).Helpers {
		before[h.PID] = h.Served
	}
	for round := 0; ; round++ {
		var lines, wants []string
		for range 20 {
			lines, wants = append(lines, line), append(wants, want)
		}
		if got := c.ask(lines...); !slices.Equal(got, wants) {
			t.Fatalf("answers %v, want %v", got, wants)
		}
		r := statusOf(t, socket)
		all := len(r.Helpers) > 0
		for _, h := range r.Helpers {
			all = all && h.PID != 0 && h.Served > before[h.PID]
		}
		if all {
			return r
		}
		if round == 20 {
			t.Fatalf("not every helper answered: %+v", r.Helpers)
		}
	}
}

// helperFDs maps each open descriptor of pid to what it points to.
func helperFDs(t *testing.T, pid int) map[int]string {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	fds := map[int]string{}
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		fds[n], _ = os.Readlink(filepath.Join(dir, e.Name()))
	}
	return fds
}

func mapsKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// TestEscapedDescendantsDie: a helper's grandchild that calls setsid leaves
// the helper's process group, so killing the group misses it. It must still
// die, and be reaped, when its helper is recycled and when the daemon stops.
func TestEscapedDescendantsDie(t *testing.T) {
	pidfile := filepath.Join(t.TempDir(), "pids")
	d := startDaemon(t, "--max-requests", "1", "--", scripts(t, "misbehave.py"), "--escaped-grandchild", pidfile)
	escaped := func() []int { return pidsOfKind(t, pidfile, "escaped") }
	// The helper that proved the command at start left one behind too.
	within(t, "the serving helper's escaped grandchild", func() bool { return len(escaped()) >= 2 })
	probed := escaped()[0]
	within(t, fmt.Sprintf("escaped grandchild %d of the start-up probe to be gone", probed),
		func() bool { return startTime(probed) == "" })
	first := escaped()[1]
	firstStart := startTime(first)
	if firstStart == "" {
		t.Fatalf("escaped grandchild %d not running", first)
	}
	// One answer recycles the helper (--max-requests 1).
	d.dial().want("isuser:alice:example.com", "1")
	within(t, "the next helper's escaped grandchild", func() bool { return len(escaped()) >= 3 })
	within(t, fmt.Sprintf("escaped grandchild %d of the recycled helper to be gone, not a zombie", first),
		func() bool { return startTime(first) != firstStart })

	second := escaped()[len(escaped())-1]
	secondStart := startTime(second)
	d.stop()
	if d.exitErr != nil {
		t.Fatalf("daemon exit: %v", d.exitErr)
	}
	within(t, fmt.Sprintf("escaped grandchild %d to be gone after the daemon stopped, not a zombie", second),
		func() bool { return startTime(second) != secondStart })
	if !strings.Contains(d.logs.String(), "killed a process a helper left behind") {
		t.Errorf("the kill was not logged:\n%s", d.logs.String())
	}
}

// pidsOfKind reads the "KIND PID" lines of a pid file.
func pidsOfKind(t *testing.T, path, kind string) []int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []int
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var k string
		var pid int
		if _, err := fmt.Sscan(sc.Text(), &k, &pid); err == nil && k == kind {
			out = append(out, pid)
		}
	}
	return out
}

// startTime is pid's start time from /proc/PID/stat, which tells a process
// from a later one with the same pid; "" once pid is gone entirely (a
// zombie is still there).
func startTime(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return ""
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return ""
	}
	return f[19]
}

// TestHelperStderrRedactedInEveryForm runs real scripts that print each
// password they are sent to stderr the ways scripts print strings (Python
// repr of bytes and str, ascii, JSON, URL and form encoding, shell quoting,
// bash printf %q, inside a line longer than the 1 KiB cut, and four
// requests later) and checks that no password, in any form, reaches the
// log, while the lines themselves do.
func TestHelperStderrRedactedInEveryForm(t *testing.T) {
	passwords := []string{
		secretMark + "-plain",
		secretMark + "-pässwörd€-🔑",
		secretMark + ` it's "quoted" \back\slash $HOME`,
		secretMark + "-%41+b&c=d<e>/?#",
		secretMark + "-\x01\x1b\x7f-ctl",
		secretMark + "-\xff\xfe-not-utf8-\xc3",
		secretMark + "-\u00a0nbsp-\u2028ls",
	}
	out, err := exec.Command(scripts(t, "leaky-stderr.py"), "--lines").Output()
	if err != nil {
		t.Fatal(err)
	}
	pyLines, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	tests := []struct {
		script string
		lines  int // stderr lines per request
	}{
		{"leaky-stderr.py", pyLines},
		{"leaky-stderr.sh", 2},
	}
	for _, tt := range tests {
		t.Run(tt.script, func(t *testing.T) {
			if tt.script == "leaky-stderr.sh" {
				if _, err := exec.LookPath("bash"); err != nil {
					t.Skip("no bash")
				}
			}
			d := startDaemon(t, "--", scripts(t, tt.script))
			c := d.dial()
			logged := func() int { return strings.Count(d.logs.String(), `msg="helper stderr"`) }
			for i, pw := range passwords {
				c.want("auth:alice:example.com:"+pw, "0")
				within(t, "the stderr lines of request "+strconv.Itoa(i+1), func() bool { return logged() >= (i+1)*tt.lines })
				// Stay under the 50 lines a second that are logged.
				time.Sleep(time.Duration(tt.lines) * 25 * time.Millisecond)
			}
			d.stop()
			logs := d.logs.String()
			if strings.Contains(logs, "suppressed") {
				t.Fatalf("lines were suppressed, so not every form was checked:\n%s", logs)
			}
			// Every line but the long one (cut after its redaction) and the
			// first four "earlier" ones (nothing earlier yet) shows one.
			if want := len(passwords)*(tt.lines-1) - 4; strings.Count(logs, "(redacted)") < want {
				t.Errorf("%d redactions, want at least %d", strings.Count(logs, "(redacted)"), want)
			}
			if i := strings.Index(logs, secretMark); i >= 0 {
				t.Errorf("a password reached the log: %q", logs[max(0, i-200):min(len(logs), i+60)])
			}
		})
	}
}

// TestDemoSetpassSeenByEveryHelper: with two helpers of the demo script on
// one users file, a password changed through one is the password for both:
// the new one always works and the old one never does.
func TestDemoSetpassSeenByEveryHelper(t *testing.T) {
	users := filepath.Join(t.TempDir(), "users.txt")
	demo, err := os.ReadFile(scripts(t, "demo-users.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(users, demo, 0o600); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, "--processes", "2", "--", scripts(t, "sample.py"), users)
	c := d.dial()
	newPW := secretMark + "-new:pw"
	c.want("setpass:alice:example.com:"+newPW, "1")
	c.want("setpass:bob:example.com:"+secretMark+"-bob", "1")
	if r := statusOf(t, d.socket); len(r.Helpers) != 2 {
		t.Fatalf("helpers %+v", r.Helpers)
	}
	answeredByAll(t, c, d.socket, "auth:alice:example.com:"+newPW, "1")
	answeredByAll(t, c, d.socket, "auth:alice:example.com:wonderland", "0")
	answeredByAll(t, c, d.socket, "auth:bob:example.com:builder", "0")
	if got := readFile(t, users); !strings.Contains(got, "alice@example.com:"+newPW+"\n") || !strings.Contains(got, "# Demo users") {
		t.Errorf("users file after setpass:\n%s", got)
	}
	if fi, err := os.Stat(users); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("users file mode %v, %v: want it kept 0600", fi.Mode(), err)
	}
}
