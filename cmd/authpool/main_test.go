package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/authpool/authpool/internal/testutil"
)

// The test binary doubles as the authpool binary: with mainEnv set it runs
// main, so end-to-end tests start a real daemon process without a build
// step, the way os/exec's tests re-execute themselves.
const mainEnv = "AUTHPOOL_TEST_RUN_MAIN"

// nofileEnv, "SOFT:HARD", sets the re-executed daemon's open-file limit
// before main runs (what systemd's LimitNOFILE= does), so tests can run
// it out of descriptors without running the test process out.
const nofileEnv = "AUTHPOOL_TEST_NOFILE"

func TestMain(m *testing.M) {
	if os.Getenv(mainEnv) == "1" {
		if v := os.Getenv(nofileEnv); v != "" {
			var rl unix.Rlimit
			if _, err := fmt.Sscanf(v, "%d:%d", &rl.Cur, &rl.Max); err != nil {
				panic(err)
			}
			if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
				panic(err)
			}
		}
		main()
		return
	}
	if spec := os.Getenv(hogEnv); spec != "" {
		os.Exit(hog(spec))
	}
	goleak.VerifyTestMain(scanAfter{m})
}

// scripts is the absolute path of testscripts/.
func scripts(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", "testscripts", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// daemon is an authpool serve process started by a test.
type daemon struct {
	t      *testing.T
	cmd    *exec.Cmd
	socket string
	logs   *syncBuffer
	done   chan error

	stopOnce sync.Once
	exitErr  error
}

type syncBuffer = testutil.SyncBuffer

// startDaemon runs "authpool serve" with args (a socket is added) and
// waits until it accepts connections. The daemon is stopped at cleanup.
func startDaemon(t *testing.T, args ...string) *daemon {
	t.Helper()
	return startDaemonOn(t, filepath.Join(t.TempDir(), "authpool.sock"), args...)
}

// startDaemonOn is startDaemon on a given socket path.
func startDaemonOn(t *testing.T, socket string, args ...string) *daemon {
	t.Helper()
	full := append([]string{"serve", "--socket", socket, "--log-level", "debug"}, args...)
	cmd := exec.Command(os.Args[0], full...)
	cmd.Env = append(os.Environ(), mainEnv+"=1")
	return startDaemonCmd(t, cmd, socket)
}

// startDaemonCmd starts a prepared daemon command whose clients connect to
// socket, and waits until it accepts connections and says it is serving
// (its start-up probe is done). The daemon is stopped at cleanup.
func startDaemonCmd(t *testing.T, cmd *exec.Cmd, socket string) *daemon {
	t.Helper()
	d := &daemon{t: t, cmd: cmd, socket: socket, logs: logBuffer(t), done: make(chan error, 1)}
	d.cmd.Stdout, d.cmd.Stderr = d.logs, d.logs
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.done <- d.cmd.Wait() }()
	t.Cleanup(func() {
		d.stop()
		if t.Failed() {
			t.Logf("daemon output:\n%s", d.logs.String())
		}
	})
	// The log first: a dial before the daemon serves may be refused by
	// an allow list, and would be logged as a refusal.
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(d.logs.String(), "authpool serving") {
		select {
		case err := <-d.done:
			d.done <- err // for stop, at cleanup
			t.Fatalf("daemon exited: %v\n%s", err, d.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon not serving\n%s", d.logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	c, err := net.Dial("unix", d.socket)
	if err != nil {
		t.Fatalf("daemon serving, but its socket: %v\n%s", err, d.logs.String())
	}
	c.Close()
	return d
}

// stop sends SIGTERM and waits, bounded, for the daemon to exit. It is safe
// to call more than once.
func (d *daemon) stop() {
	d.stopOnce.Do(func() {
		d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case d.exitErr = <-d.done:
		case <-time.After(30 * time.Second):
			d.cmd.Process.Kill()
			<-d.done
			d.t.Errorf("daemon did not stop on SIGTERM")
		}
	})
}

// sockClient is one connection to a daemon, with every wait bounded.
type sockClient struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func (d *daemon) dial() *sockClient {
	d.t.Helper()
	c, err := net.Dial("unix", d.socket)
	if err != nil {
		d.t.Fatal(err)
	}
	d.t.Cleanup(func() { c.Close() })
	return &sockClient{t: d.t, c: c, r: bufio.NewReader(c)}
}

// ask sends lines in one write and returns the answers, in order.
func (c *sockClient) ask(lines ...string) []string {
	c.t.Helper()
	c.c.SetDeadline(time.Now().Add(30 * time.Second))
	var buf bytes.Buffer
	for _, l := range lines {
		buf.WriteString(l + "\n")
	}
	if _, err := c.c.Write(buf.Bytes()); err != nil {
		c.t.Fatal(err)
	}
	answers := make([]string, len(lines))
	for i := range lines {
		a, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("answer %d of %d: %v", i+1, len(lines), err)
		}
		answers[i] = strings.TrimSuffix(a, "\n")
	}
	return answers
}

// want checks that one request line gets the answer want.
func (c *sockClient) want(line, want string) {
	c.t.Helper()
	if got := c.ask(line)[0]; got != want {
		c.t.Errorf("%.60q: got %s, want %s", line, got, want)
	}
}

// pids reads the "helper PID" and "grandchild PID" lines of a pid file.
func pids(t *testing.T, path string) []int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var kind string
		var pid int
		if _, err := fmt.Sscan(line, &kind, &pid); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	// A zombie waiting for init to reap it is as good as gone.
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// within waits, bounded, for cond.
func within(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// steadyLoad keeps connections to a daemon busy with right and wrong
// passwords, checking every answer, until stopped: the load under which a
// reload must fail no request.
type steadyLoad struct {
	t        *testing.T
	stopCh   chan struct{}
	wg       sync.WaitGroup
	mu       sync.Mutex
	answered int
	bad      int // wrong answers and failed requests
}

func startSteadyLoad(t *testing.T, socket string, conns int) *steadyLoad {
	l := &steadyLoad{t: t, stopCh: make(chan struct{})}
	for g := range conns {
		l.wg.Go(func() {
			c, err := net.Dial("unix", socket)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			r := bufio.NewReader(c)
			for i := 0; ; i++ {
				select {
				case <-l.stopCh:
					return
				default:
				}
				line, want := "auth:alice:example.com:wonderland", "1\n"
				if (g+i)%2 == 1 {
					line, want = "auth:bob:example.com:"+secretMark, "0\n"
				}
				c.SetDeadline(time.Now().Add(30 * time.Second))
				fmt.Fprintf(c, "%s\n", line)
				got, err := r.ReadString('\n')
				l.mu.Lock()
				l.answered++
				if err != nil || got != want {
					l.bad++
					t.Errorf("%s: %q, %v under load", line, got, err)
				}
				l.mu.Unlock()
				if err != nil {
					return
				}
			}
		})
	}
	return l
}

// count is how many requests were answered so far.
func (l *steadyLoad) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.answered
}

// stop ends the load and returns what it asked and how much went wrong.
func (l *steadyLoad) stop() (answered, bad int) {
	close(l.stopCh)
	l.wg.Wait()
	return l.answered, l.bad
}

// exitCode runs a daemon command that must exit by itself within bound
// (it fails the test with why otherwise) and returns its exit code and
// its output, which the password scan reads too.
func exitCode(t *testing.T, cmd *exec.Cmd, bound time.Duration, why string) (int, string) {
	t.Helper()
	out := logBuffer(t)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(bound):
		cmd.Process.Kill()
		<-done
		t.Fatalf("%s:\n%s", why, out.String())
	}
	return cmd.ProcessState.ExitCode(), out.String()
}
