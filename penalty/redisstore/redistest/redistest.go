// Package redistest runs a real redis-server for tests, on a unix socket
// in the test's temporary directory (or on a free loopback port), killed
// when the test ends. Its data goes to an append-only file synced at every
// write, so that a server killed and started again comes back with what it
// held, as a server with persistence would. A test whose machine has no
// redis-server skips, saying so (Debian: apt-get install redis-server).
package redistest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/valkey-io/valkey-go"
)

// Options choose how a server listens and what it records.
type Options struct {
	// TCP listens on a free port of 127.0.0.1 instead of a unix socket.
	TCP bool
	// Monitor records every command the server receives (redis-cli
	// MONITOR) to a file in Dir, which Contents includes.
	Monitor bool
}

// Server is one redis-server owned by a test.
type Server struct {
	t    testing.TB
	Dir  string // the server's directory: its socket, data and logs
	sock string
	port int

	mu       sync.Mutex
	cmd      *exec.Cmd // nil while killed
	monitor  *exec.Cmd
	monitors int
	opts     Options
}

// Start starts a server for t, or skips t when redis-server is not
// installed. The server is killed when t ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server is not installed (Debian: apt-get install redis-server): skipping the tests against a real Redis")
	}
	if _, err := exec.LookPath("redis-cli"); err != nil && opts.Monitor {
		t.Skip("redis-cli is not installed (Debian: apt-get install redis-tools): skipping a test that records Redis's commands")
	}
	// Not t.TempDir(): a unix socket's path must be short (108 bytes),
	// and test names are long.
	dir, err := os.MkdirTemp("", "redistest")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{t: t, Dir: dir, sock: filepath.Join(dir, "redis.sock"), opts: opts}
	t.Cleanup(func() {
		s.Kill()
		os.RemoveAll(dir)
	})
	if opts.TCP {
		s.port = freePort(t)
	}
	s.Restart()
	return s
}

// freePort is a loopback port nobody listened on a moment ago.
func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// URL is the server's address for redisstore.Config.URL.
func (s *Server) URL() string {
	if s.opts.TCP {
		return "redis://127.0.0.1:" + strconv.Itoa(s.port) + "/0"
	}
	return "unix://" + s.sock
}

// Restart starts the server (again, after Kill), on the same address and
// data, and waits until it answers.
func (s *Server) Restart() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		s.t.Fatal("redistest: Restart of a running server")
	}
	args := []string{
		"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--unixsocket", s.sock, "--unixsocketperm", "700",
		"--dir", s.Dir, "--logfile", filepath.Join(s.Dir, "redis.log"),
		"--save", "", "--appendonly", "yes", "--appendfsync", "always",
		"--daemonize", "no",
	}
	cmd := exec.Command("redis-server", args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.cmd = cmd
	deadline := time.Now().Add(10 * time.Second)
	for !s.answers() {
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(s.Dir, "redis.log"))
			s.t.Fatalf("redistest: redis-server did not answer within 10s; its log:\n%s", log)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if s.opts.Monitor {
		s.startMonitor()
	}
}

// answers reports whether the server answers PING now.
func (s *Server) answers() bool {
	network, addr := "unix", s.sock
	if s.opts.TCP {
		network, addr = "tcp", "127.0.0.1:"+strconv.Itoa(s.port)
	}
	c, err := net.DialTimeout(network, addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && line == "+PONG\r\n"
}

func (s *Server) startMonitor() {
	s.monitors++
	out, err := os.Create(filepath.Join(s.Dir, fmt.Sprintf("monitor-%d.log", s.monitors)))
	if err != nil {
		s.t.Fatal(err)
	}
	cmd := exec.Command("redis-cli", "-s", s.sock, "monitor")
	cmd.Stdout = out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		out.Close()
		s.t.Fatal(err)
	}
	out.Close() // the child has its own copy
	s.monitor = cmd
	// MONITOR is on once the server lists the connection's last command
	// as monitor.
	deadline := time.Now().Add(5 * time.Second)
	for {
		list, err := exec.Command("redis-cli", "-s", s.sock, "client", "list").Output()
		if err == nil && bytes.Contains(list, []byte("cmd=monitor")) {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatal("redistest: MONITOR did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Kill kills the server at once (SIGKILL: no shutdown, no last save) and
// waits for it to exit. Killing a killed server does nothing.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.cmd = nil
	if s.monitor != nil {
		s.monitor.Process.Kill()
		s.monitor.Wait()
		s.monitor = nil
	}
}

// Pause makes the server hold every client's commands for d (CLIENT PAUSE
// ALL), its own included: a pause cannot be lifted early, so it is timed.
func (s *Server) Pause(d time.Duration) {
	s.t.Helper()
	s.Do("CLIENT", "PAUSE", strconv.FormatInt(d.Milliseconds(), 10), "ALL")
}

// Do runs one command on a fresh connection and returns its answer.
func (s *Server) Do(args ...string) valkey.ValkeyResult {
	s.t.Helper()
	c := s.client()
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.Do(ctx, c.B().Arbitrary(args...).Build())
}

func (s *Server) client() valkey.Client {
	s.t.Helper()
	opt, err := valkey.ParseURL(s.URL())
	if err != nil {
		s.t.Fatal(err)
	}
	opt.DisableCache = true
	c, err := valkey.NewClient(opt)
	if err != nil {
		s.t.Fatalf("redistest: connecting: %v", err)
	}
	return c
}

// Keys lists every key the server holds (KEYS *).
func (s *Server) Keys() []string {
	s.t.Helper()
	keys, err := s.Do("KEYS", "*").AsStrSlice()
	if err != nil {
		s.t.Fatalf("redistest: KEYS: %v", err)
	}
	return keys
}

// Contents is everything the server holds or was told, as bytes to search:
// every key's name, its DUMP, its fields and values (a hash's, a string's),
// and every file in Dir (the append-only file, the MONITOR records, the
// log).
func (s *Server) Contents() []byte {
	s.t.Helper()
	var b bytes.Buffer
	for _, k := range s.Keys() {
		b.WriteString(k + "\n")
		dump, _ := s.Do("DUMP", k).ToString()
		b.WriteString(dump + "\n")
		typ, _ := s.Do("TYPE", k).ToString()
		switch typ {
		case "hash":
			m, _ := s.Do("HGETALL", k).AsStrMap()
			for f, v := range m {
				b.WriteString(f + "=" + v + "\n")
			}
		case "string":
			v, _ := s.Do("GET", k).ToString()
			b.WriteString(v + "\n")
		}
	}
	filepath.WalkDir(s.Dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			data, _ := os.ReadFile(path)
			b.Write(data)
		}
		return nil
	})
	return b.Bytes()
}
