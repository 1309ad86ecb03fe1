package main

// The attacks of issue 10, findings 1 to 7, against the daemon's
// listeners, each replayed against a real daemon: every entrance is closed
// by default, and no client, however many connections or lines it sends,
// can lock others out, starve the helpers of descriptors, or flood the log.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/authpool/authpool/internal/loglimit"
)

// serveOnce runs "authpool serve" in-process with args (a socket of its
// own added) and returns its exit code and output: for configurations that
// must be refused at start. One that starts is stopped after 10 seconds.
func serveOnce(t *testing.T, args ...string) (int, string) {
	t.Helper()
	out := logBuffer(t)
	full := append([]string{"serve", "--socket", filepath.Join(t.TempDir(), "s.sock")}, args...)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	code := run(ctx, full, strings.NewReader(""), out, out)
	return code, out.String()
}

// httpAddr waits for the daemon to log its HTTP address.
func (d *daemon) httpAddr() string {
	var addr string
	within(d.t, "the http address in the log", func() bool {
		m := regexp.MustCompile(`msg="http listening" addr=(\S+)`).FindStringSubmatch(d.logs.String())
		if m != nil {
			addr = m[1]
		}
		return m != nil
	})
	return addr
}

// TestHTTPNeedsCredentials is finding 1: with --http and no credentials,
// any local user could check passwords and set them (POST set_password,
// 204), and nothing said so at start.
func TestHTTPNeedsCredentials(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:0", "unix:" + filepath.Join(t.TempDir(), "h.sock")} {
		code, out := serveOnce(t, "--http", addr, "--", scripts(t, "sample.py"))
		if code != 1 || !strings.Contains(out, "needs credentials") || !strings.Contains(out, "--http-insecure-no-auth") {
			t.Fatalf("--http %s without credentials: exit %d\n%s", addr, code, out)
		}
	}

	// With credentials, a client without them changes nothing.
	expect := filepath.Join(t.TempDir(), "expect")
	d := startDaemon(t, "--http", "127.0.0.1:0", "--http-credentials-file", credsFile(t, "prosody:"+secretMark+"-http"),
		"--env", "AUTHPOOL_TEST_EXPECT="+expect, "--", scripts(t, "misbehave.py"))
	base := "http://" + d.httpAddr()
	hc := &http.Client{Timeout: 20 * time.Second}
	for _, tt := range []struct {
		verb, target, body string
		auth               bool
		want               int
	}{
		{"GET", "/check_password?user=alice&server=example.com&pass=wonderland", "", false, 401},
		{"POST", "/set_password", "user=alice&server=example.com&pass=" + secretMark + "-mine", false, 401},
		{"GET", "/status", "", false, 401},
		{"GET", "/metrics", "", false, 401},
		{"GET", "/healthz", "", false, 200},
		{"GET", "/check_password?user=alice&server=example.com&pass=wonderland", "", true, 200},
	} {
		req, _ := http.NewRequest(tt.verb, base+tt.target, strings.NewReader(tt.body))
		if tt.auth {
			req.SetBasicAuth("prosody", secretMark+"-http")
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s %s (credentials %v): %d, want %d", tt.verb, tt.target, tt.auth, resp.StatusCode, tt.want)
		}
	}
	if st := statusOf(t, d.socket); st.Totals.Requests != 1 {
		t.Errorf("%d requests reached the pool, want the one with credentials", st.Totals.Requests)
	}

	// Turning authentication off takes a flag that says so, and the log
	// says it loudly.
	d = startDaemon(t, "--http", "unix:"+filepath.Join(t.TempDir(), "h.sock"), "--http-insecure-no-auth", "--", scripts(t, "sample.py"))
	within(t, "the warning", func() bool {
		return regexp.MustCompile(`level=ERROR msg="HTTP API WITHOUT AUTHENTICATION`).MatchString(d.logs.String())
	})
}

// TestBlankHTTPCredentialsRefused is finding 2: an empty or blank
// credentials file, or --http-credentials "", silently turned HTTP
// authentication off.
func TestBlankHTTPCredentialsRefused(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
		return p
	}
	conf := filepath.Join(dir, "authpool.toml")
	writeFile(t, conf, "http-credentials = \"\"\n")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"empty flag", []string{"--http-credentials", ""}, "empty"},
		{"empty in the config file", []string{"--config", conf}, "empty"},
		{"empty file", []string{"--http-credentials-file", file("empty", "", 0o600)}, "empty"},
		{"only a line end", []string{"--http-credentials-file", file("nl", "\n", 0o600)}, "empty"},
		{"whitespace file", []string{"--http-credentials-file", file("ws", "  \t \n", 0o600)}, "no ':'"},
		{"no user part", []string{"--http-credentials-file", file("nouser", secretMark+"\n", 0o600)}, "no ':'"},
		{"blank user", []string{"--http-credentials-file", file("blankuser", " :"+secretMark+"\n", 0o600)}, "user is blank"},
		{"blank password", []string{"--http-credentials", "prosody: "}, "password is blank"},
		{"two lines", []string{"--http-credentials-file", file("two", "prosody:"+secretMark+"\nx:y\n", 0o600)}, "line end"},
		{"readable by all", []string{"--http-credentials-file", file("public", "prosody:"+secretMark+"\n", 0o644)}, "readable by every user"},
		{"no file named", []string{"--http-credentials-file", ""}, "no file named"},
		{"both forms", []string{"--http-credentials", "a:b", "--http-credentials-file", file("ok", "a:b", 0o600)}, "not both"},
		{"credentials and insecure", []string{"--http-credentials", "a:b", "--http-insecure-no-auth"}, "not both"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"--http", "127.0.0.1:0"}, tt.args...)
			code, out := serveOnce(t, append(args, "--", scripts(t, "sample.py"))...)
			if code != 1 || !strings.Contains(out, tt.want) {
				t.Fatalf("exit %d, want 1 and %q:\n%s", code, tt.want, out)
			}
			if strings.Contains(out, secretMark) {
				t.Fatalf("the error shows the credentials:\n%s", out)
			}
		})
	}
	if code, out := serveOnce(t, "--http-insecure-no-auth", "--", scripts(t, "sample.py")); code != 1 || !strings.Contains(out, "without --http") {
		t.Fatalf("--http-insecure-no-auth alone: exit %d\n%s", code, out)
	}
}

// refused reports whether the daemon closes c without answering a
// request (true), or answers it (false).
func refused(t *testing.T, c net.Conn, request string) bool {
	t.Helper()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	io.WriteString(c, request) // fails if already closed: that is the answer
	var b [1]byte
	n, err := c.Read(b[:])
	switch {
	case n > 0:
		return false
	case err == io.EOF || errors.Is(err, syscall.ECONNRESET):
		return true
	}
	t.Fatalf("neither answered nor closed: %v", err)
	return false
}

// TestAllowListsOnEveryListener is finding 3: --allow-uid did not apply
// to --http unix: nor to --metrics unix:. It applies to every listener,
// and to loopback TCP too, where the kernel tells the uid.
func TestAllowListsOnEveryListener(t *testing.T) {
	me := strconv.Itoa(os.Getuid())
	for _, tt := range []struct {
		allow   string
		refused bool
	}{
		{"54321", true},
		{me, false},
	} {
		dir := t.TempDir()
		hs, ms, es := filepath.Join(dir, "http.sock"), filepath.Join(dir, "metrics.sock"), filepath.Join(dir, "ejabberd.sock")
		d := startDaemon(t, "--allow-uid", tt.allow, "--http", "unix:"+hs, "--http-insecure-no-auth",
			"--metrics", "unix:"+ms, "--ejabberd-socket", es, "--", scripts(t, "sample.py"))
		get := "GET /healthz HTTP/1.0\r\n\r\n"
		for _, c := range []struct {
			name, network, addr, request string
		}{
			{"socket", "unix", d.socket, "isuser:bob:example.com\n"},
			{"ejabberd-socket", "unix", es, "\x00\x16isuser:bob:example.com"},
			{"http unix:", "unix", hs, get},
			{"metrics unix:", "unix", ms, get},
		} {
			conn, err := net.Dial(c.network, c.addr)
			if err != nil {
				t.Fatal(err)
			}
			if got := refused(t, conn, c.request); got != tt.refused {
				t.Errorf("--allow-uid %s, %s: refused %v, want %v", tt.allow, c.name, got, tt.refused)
			}
			conn.Close()
		}
		if tt.refused {
			within(t, "the refusals in the log", func() bool {
				logs := d.logs.String()
				return strings.Count(logs, "connection refused: not allowed") >= 4 &&
					strings.Contains(logs, "listener=http") && strings.Contains(logs, "listener=metrics")
			})
		}
	}
	// Over loopback TCP, the uid comes from the kernel's socket table.
	d := startDaemon(t, "--allow-uid", "54321", "--http", "127.0.0.1:0", "--http-credentials", "prosody:x",
		"--metrics", "127.0.0.1:0", "--", scripts(t, "sample.py"))
	listening := regexp.MustCompile(`msg="http listening" addr=(\S+)`)
	within(t, "both addresses in the log", func() bool { return len(listening.FindAllString(d.logs.String(), -1)) == 2 })
	for _, m := range listening.FindAllStringSubmatch(d.logs.String(), -1) {
		conn, err := net.Dial("tcp", m[1])
		if err != nil {
			t.Fatal(err)
		}
		if !refused(t, conn, "GET /healthz HTTP/1.0\r\n\r\n") {
			t.Errorf("TCP %s: a uid not allowed got an answer", m[1])
		}
		conn.Close()
	}
}

// activatedDaemon runs "authpool serve" with listeners handed over as
// systemd does (LISTEN_FDS, LISTEN_FDNAMES) and returns its exit code and
// output; it must refuse to start.
func activatedDaemon(t *testing.T, names []string, files []*os.File) (int, string) {
	t.Helper()
	cmd := exec.Command("sh", "-c", `LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@"`, os.Args[0],
		"serve", "--socket", filepath.Join(t.TempDir(), "not-used.sock"), "--", scripts(t, "sample.py"))
	cmd.Env = append(os.Environ(), mainEnv+"=1", fmt.Sprintf("LISTEN_FDS=%d", len(files)), "LISTEN_FDNAMES="+strings.Join(names, ":"))
	cmd.ExtraFiles = files
	return exitCode(t, cmd, 20*time.Second, "the daemon served")
}

// listenerFile returns a listener's descriptor, to hand over.
func listenerFile(t *testing.T, l net.Listener) *os.File {
	t.Helper()
	type filer interface{ File() (*os.File, error) }
	f, err := l.(filer).File()
	if err != nil {
		t.Fatal(err)
	}
	if ul, ok := l.(*net.UnixListener); ok {
		ul.SetUnlinkOnClose(false)
	}
	l.Close()
	t.Cleanup(func() { f.Close() })
	return f
}

// TestActivatedSocketsChecked is finding 4: a socket systemd handed over
// was served as it was, an HTTP socket on 0.0.0.0 included; now it gets
// the checks of one opened from the flags.
func TestActivatedSocketsChecked(t *testing.T) {
	unixAt := func(mode os.FileMode) net.Listener {
		p := filepath.Join(t.TempDir(), "a.sock")
		l, err := net.Listen("unix", p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return l
	}
	tcpAt := func(addr string) net.Listener {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	abstract := func() net.Listener {
		l, err := net.Listen("unix", fmt.Sprintf("@authpool-test-%d", os.Getpid()))
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	tests := []struct {
		name     string
		listener func() net.Listener
		fdName   string
		want     string
	}{
		{"HTTP on every address", func() net.Listener { return tcpAt("0.0.0.0:0") }, "http", "not a loopback address"},
		{"metrics on every address", func() net.Listener { return tcpAt("0.0.0.0:0") }, "metrics", "not a loopback address"},
		{"main socket over TCP", func() net.Listener { return tcpAt("127.0.0.1:0") }, "main", "only a Unix socket"},
		{"ejabberd socket over TCP", func() net.Listener { return tcpAt("127.0.0.1:0") }, "ejabberd", "only a Unix socket"},
		{"world-writable main socket", func() net.Listener { return unixAt(0o666) }, "main", "world-writable"},
		{"world-writable HTTP socket", func() net.Listener { return unixAt(0o777) }, "http", "world-writable"},
		{"abstract socket", abstract, "main", "abstract"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out := activatedDaemon(t, []string{tt.fdName}, []*os.File{listenerFile(t, tt.listener())})
			if code != 1 || !strings.Contains(out, tt.want) {
				t.Fatalf("exit %d, want 1 and %q:\n%s", code, tt.want, out)
			}
		})
	}
	// An HTTP socket handed over needs credentials as --http does.
	code, out := activatedDaemon(t, []string{"main", "http"}, []*os.File{
		listenerFile(t, unixAt(0o660)), listenerFile(t, tcpAt("127.0.0.1:0"))})
	if code != 1 || !strings.Contains(out, "needs credentials") {
		t.Fatalf("activated HTTP without credentials: exit %d\n%s", code, out)
	}
}

// dialMany opens up to n connections to addr from workers goroutines and
// sends each the request; it gives up after a run of failures (a daemon
// that stopped accepting) or a minute. It returns the connections.
func dialMany(t *testing.T, network, addr string, n int, request string) []net.Conn {
	t.Helper()
	var (
		mu       sync.Mutex
		conns    []net.Conn
		next     atomic.Int64
		failures atomic.Int64
		wg       sync.WaitGroup
	)
	deadline := time.Now().Add(time.Minute)
	for range 32 {
		wg.Go(func() {
			for next.Add(1) <= int64(n) && failures.Load() < 200 && time.Now().Before(deadline) {
				c, err := net.DialTimeout(network, addr, 2*time.Second)
				if err != nil {
					failures.Add(1)
					continue
				}
				failures.Store(0)
				io.WriteString(c, request)
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	return conns
}

// TestConnectionFloodLeavesDescriptors is finding 5: about 20,000
// keep-alive /healthz connections took every descriptor; the main
// socket's accept failed with EMFILE, no client was answered, and helpers
// could not be restarted. The daemon runs here with 512 descriptors.
func TestConnectionFloodLeavesDescriptors(t *testing.T) {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	n := min(20000, int(rl.Cur)-300)
	if n < 5000 {
		t.Skipf("open-file limit %d: too low to flood", rl.Cur)
	}
	// One peer may fill a listener here: the limit per listener must hold
	// by itself.
	dir := t.TempDir()
	metricsSock := filepath.Join(dir, "metrics.sock")
	cmd := exec.Command(os.Args[0], "serve", "--socket", filepath.Join(dir, "authpool.sock"),
		"--http", "127.0.0.1:0", "--http-credentials-file", credsFile(t, "prosody:"+secretMark+"-http"),
		"--metrics", "unix:"+metricsSock, "--max-connections-per-peer", "1024",
		"--", scripts(t, "misbehave.py"))
	cmd.Env = append(os.Environ(), mainEnv+"=1", nofileEnv+"=512:512")
	d := startDaemonCmd(t, cmd, filepath.Join(dir, "authpool.sock"))
	within(t, "the open-file limit in the log", func() bool {
		return regexp.MustCompile(`msg="open-file limit" soft=512 hard=512 .*max_connections=\d+`).MatchString(d.logs.String())
	})

	keepAlive := "GET /healthz HTTP/1.1\r\nHost: authpool\r\n\r\n"
	conns := dialMany(t, "tcp", d.httpAddr(), n-2000, keepAlive)
	conns = append(conns, dialMany(t, "unix", metricsSock, 2000, keepAlive)...)
	t.Logf("%d of %d connections opened", len(conns), n)
	// Both listeners are full: the next connection is closed unanswered.
	for _, to := range []struct{ network, addr string }{{"tcp", d.httpAddr()}, {"unix", metricsSock}} {
		c, err := net.Dial(to.network, to.addr)
		if err != nil {
			t.Fatal(err)
		}
		if !refused(t, c, keepAlive) {
			t.Fatalf("%s: a connection over the limit answered", to.addr)
		}
		c.Close()
	}

	// The socket still answers; so does status.
	c := d.dial()
	c.want("auth:alice:example.com:wonderland", "1")
	if r := statusOf(t, d.socket); len(r.Helpers) != 1 {
		t.Fatalf("status %+v", r)
	}
	// A helper that dies is replaced, and the replacement answers.
	pid := statusOf(t, d.socket).Helpers[0].PID
	c.want("auth:crash:example.com:crash", "0")
	within(t, "a new helper", func() bool {
		h := statusOf(t, d.socket).Helpers[0]
		return h.PID != pid && h.State == "ready"
	})
	c.want("auth:alice:example.com:wonderland", "1")
	logs := d.logs.String()
	if strings.Contains(logs, "too many open files") {
		t.Fatalf("the daemon ran out of descriptors:\n%.3000s", logs)
	}
	// 20,000 refusals are not 20,000 lines.
	if k := strings.Count(logs, "connection refused"); k > 100 {
		t.Fatalf("%d lines of refusals", k)
	}
}

// hogEnv, "unix|PATH|N" or "tcp|HOST:PORT|N", makes the test binary a
// client that opens N connections to the main socket at PATH, or to the
// HTTP listener at HOST:PORT, keeps each busy (a request every 20 s, as an
// active client would), prints how many the daemon answered, and exits at
// the end of its stdin.
const hogEnv = "AUTHPOOL_TEST_HOG"

func hog(spec string) int {
	f := strings.Split(spec, "|")
	if len(f) != 3 {
		return 2
	}
	network, addr := f[0], f[1]
	n, err := strconv.Atoi(f[2])
	if err != nil {
		return 2
	}
	type conn struct {
		c net.Conn
		r *bufio.Reader
	}
	// ask sends one request and reports whether it was answered.
	ask := func(c conn) bool {
		c.c.SetDeadline(time.Now().Add(20 * time.Second))
		if network == "unix" {
			io.WriteString(c.c, "isuser:bob:example.com\n")
			line, _ := c.r.ReadString('\n')
			return line == "1\n"
		}
		io.WriteString(c.c, "GET /healthz HTTP/1.1\r\nHost: authpool\r\n\r\n")
		resp, err := http.ReadResponse(c.r, nil)
		if err != nil {
			return false
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode == 200
	}
	var held []conn
	for range n {
		c, err := net.Dial(network, addr)
		if err != nil {
			continue
		}
		if hc := (conn{c, bufio.NewReader(c)}); ask(hc) {
			held = append(held, hc)
		} else {
			c.Close()
		}
	}
	fmt.Printf("held %d\n", len(held))
	done := make(chan struct{})
	go func() { io.Copy(io.Discard, os.Stdin); close(done) }()
	for {
		select {
		case <-done:
			return 0
		case <-time.After(20 * time.Second):
			for _, c := range held {
				ask(c)
			}
		}
	}
}

// runAsNobody starts the test binary as uid and gid 65534, from a copy in
// dir that user can read, with env added.
func runAsNobody(t *testing.T, dir string, env ...string) *exec.Cmd {
	t.Helper()
	bin := filepath.Join(dir, "authpool.test")
	if _, err := os.Stat(bin); err != nil {
		src, err := os.ReadFile(os.Args[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(bin, src, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	return cmd
}

// startHog runs a hog (see hogEnv) as uid 65534 from dir and returns what
// it reports.
func startHog(t *testing.T, dir, spec string) string {
	t.Helper()
	cmd := runAsNobody(t, dir, hogEnv+"="+spec)
	stdin, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Wait() })
	held := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		held <- line
	}()
	select {
	case line := <-held:
		return line
	case <-time.After(2 * time.Minute):
		t.Fatal("the hog did not report")
		return ""
	}
}

// TestOneClientCannotTakeEverySlot is finding 6: 1,024 connections of one
// permitted client, each sending a request every 20 s, held every
// --max-connections place; check, connect and status all failed. Here the
// client is uid 65534, and takes what it can of the main socket and of
// the HTTP listener over loopback TCP.
func TestOneClientCannotTakeEverySlot(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root, to run a client as another user")
	}
	dir, err := os.MkdirTemp("", "authpool-hog")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	sock := filepath.Join(dir, "authpool.sock")
	d := startDaemonOn(t, sock, "--socket-group", "65534",
		"--http", "127.0.0.1:0", "--http-credentials-file", credsFile(t, "prosody:"+secretMark+"-http"),
		"--", scripts(t, "sample.py"))
	httpAddr := d.httpAddr()

	for _, spec := range []string{"unix|" + sock + "|1024", "tcp|" + httpAddr + "|1024"} {
		if got := startHog(t, dir, spec); got != "held 256\n" {
			t.Fatalf("%s: the client got %q, want held 256 (a quarter of --max-connections)", spec, got)
		}
	}
	within(t, "the refusals in the log", func() bool {
		return strings.Contains(d.logs.String(), "too many from one peer") && strings.Contains(d.logs.String(), "uid 65534")
	})

	// Everyone else still gets in: check, connect and status, and the
	// HTTP API.
	stdout, stderr := logBuffer(t), logBuffer(t)
	if code := run(t.Context(), []string{"check", "--socket", sock, "auth", "alice", "example.com"},
		strings.NewReader("wonderland"), stdout, stderr); code != 0 {
		t.Fatalf("check: exit %d: %s", code, stderr.String())
	}
	if r := statusOf(t, sock); len(r.Helpers) != 1 {
		t.Fatalf("status %+v", r)
	}
	b := startBridge(t, "--socket", sock)
	io.WriteString(b.in, "auth:alice:example.com:wonderland\n")
	if got := b.read(2); got != "1\n" {
		t.Fatalf("connect answered %q", got)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+httpAddr+"/check_password?user=alice&server=example.com&pass=wonderland", nil)
	req.SetBasicAuth("prosody", secretMark+"-http")
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "true" {
		t.Fatalf("HTTP: %d %q", resp.StatusCode, body)
	}
}

// TestMalformedFloodLogsBounded is finding 7: 200,000 malformed lines
// gave 200,000 log lines (33 MB) in one second.
func TestMalformedFloodLogsBounded(t *testing.T) {
	d := startDaemon(t, "--log-level", "info", "--", scripts(t, "sample.py"))
	c, err := net.Dial("unix", d.socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	const n = 200000
	go func() {
		w := bufio.NewWriter(c)
		for range n {
			w.WriteString("auth:no-server\n")
		}
		w.Flush()
	}()
	r := bufio.NewReader(c)
	for i := range n {
		if line, err := r.ReadString('\n'); line != "0\n" {
			t.Fatalf("answer %d: %q, %v", i, line, err)
		}
	}
	d.stop()
	logs := d.logs.String()
	if k := strings.Count(logs, "\n"); k > 100 {
		t.Fatalf("%d log lines for %d malformed requests:\n%.3000s", k, n, logs)
	}
	// Every refusal is a line or is counted.
	lines := strings.Count(logs, `msg="request refused"`)
	counted := 0
	for _, m := range regexp.MustCompile(`msg="`+loglimit.SuppressedMsg+`" message="request refused" suppressed=(\d+) `).FindAllStringSubmatch(logs, -1) {
		k, _ := strconv.Atoi(m[1])
		counted += k
	}
	if lines+counted != n || counted == 0 {
		t.Fatalf("%d refusals logged and %d counted, want %d in all:\n%s", lines, counted, n, logs)
	}
}

func TestConnectionFlags(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--max-connections", "-1"}, "cannot be negative"},
		{[]string{"--max-connections-per-peer", "-1"}, "cannot be negative"},
		{[]string{"--max-connections", "10", "--max-connections-per-peer", "11"}, "is more than"},
		// Not read as the default, nor as "no limit" (issue 12, item 8).
		{[]string{"--max-connections", "0"}, "--max-connections 0: want more than 0 (the default is 1024)"},
	} {
		code, out := serveOnce(t, append(tt.args, "--", scripts(t, "sample.py"))...)
		if code != 1 || !strings.Contains(out, tt.want) {
			t.Errorf("%v: exit %d\n%s", tt.args, code, out)
		}
	}
	// The default, and the soft limit raised to the hard one.
	cmd := exec.Command(os.Args[0], "serve", "--socket", filepath.Join(t.TempDir(), "s.sock"),
		"--", scripts(t, "sample.py"))
	cmd.Env = append(os.Environ(), mainEnv+"=1", nofileEnv+"=300:5000")
	d := startDaemonCmd(t, cmd, cmd.Args[3])
	within(t, "the limits in the log", func() bool {
		return strings.Contains(d.logs.String(), `msg="open-file limit" soft=5000 hard=5000 kept_for_daemon_and_helpers=80 listeners=1 max_connections=1024 max_connections_per_peer=256`)
	})
}

// TestReloadKeepsReserveForHelpers: a reload that adds helpers takes
// their descriptors from what connections may use, not from the helpers.
func TestReloadKeepsReserveForHelpers(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "authpool.toml")
	writeFile(t, conf, fmt.Sprintf("command = [%q]\nprocesses = 1\n", scripts(t, "sample.py")))
	sock := filepath.Join(dir, "authpool.sock")
	cmd := exec.Command(os.Args[0], "serve", "--socket", sock, "--config", conf)
	cmd.Env = append(os.Environ(), mainEnv+"=1", nofileEnv+"=512:512")
	d := startDaemonCmd(t, cmd, sock)
	writeFile(t, conf, fmt.Sprintf("command = [%q]\nprocesses = 8\n", scripts(t, "sample.py")))
	d.cmd.Process.Signal(syscall.SIGHUP)
	// 512 - (64 + 16*8)
	within(t, "the budget lowered", func() bool {
		return strings.Contains(d.logs.String(), `msg="connections allowed lowered for the helpers added" helpers=8 connections=320`)
	})
	d.dial().want("auth:alice:example.com:wonderland", "1")
}
