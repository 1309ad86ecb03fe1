package main

import (
	"encoding/json"
	"fmt"
	authpoold "github.com/authpool/authpool/internal/daemon"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// statusOf runs "authpool status --json" in this process.
func statusOf(t *testing.T, socket string) authpoold.Status {
	t.Helper()
	out, errOut := logBuffer(t), logBuffer(t)
	if code := run(t.Context(), []string{"status", "--socket", socket, "--json"}, nil, out, errOut); code != 0 {
		t.Fatalf("status: exit %d: %s", code, errOut.String())
	}
	var r authpoold.Status
	if err := json.Unmarshal([]byte(out.String()), &r); err != nil {
		t.Fatalf("status JSON %q: %v", out.String(), err)
	}
	return r
}

func TestConfigFile(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "authpool.toml")
	writeFile(t, conf, fmt.Sprintf(`
command = [%q]
processes = 3
timeout = "4s"
mode = "nonblocking"
log-level = "debug"
env = ["A=1", "B=2"]
`, scripts(t, "sample.py")))
	d := startDaemon(t, "--config", conf, "--processes", "2") // the flag wins
	d.dial().want("auth:alice:example.com:wonderland", "1")
	r := statusOf(t, d.socket)
	if len(r.Helpers) != 2 || r.Mode != "nonblocking" {
		t.Fatalf("status %+v: want 2 helpers (the flag) in nonblocking mode (the file)", r)
	}
	out := logBuffer(t)
	run(t.Context(), []string{"status", "--socket", d.socket}, nil, out, out)
	if !strings.Contains(out.String(), "SLOT") || !strings.Contains(out.String(), "nonblocking mode") {
		t.Errorf("status table:\n%s", out.String())
	}

	for _, tt := range []struct{ name, text, want string }{
		{"unknown key", `command = "x"` + "\nprocesess = 2\n", `key "procesess"`},
		{"bad value", `command = "x"` + "\nprocesses = \"many\"\n", `key "processes": "many" is not a whole number`},
		{"bad duration", `command = "x"` + "\ntimeout = \"soon\"\n", `key "timeout": "soon" is not a duration such as 5s`},
		{"bad boolean", `command = "x"` + "\nno-confirm-yes = \"maybe\"\n", `key "no-confirm-yes": "maybe" is not true or false`},
		{"bad array", `command = [1, 2]`, `key "command"`},
		{"not toml", `command = `, "authpool.toml"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			bad := filepath.Join(t.TempDir(), "authpool.toml")
			writeFile(t, bad, tt.text)
			out := logBuffer(t)
			args := []string{"serve", "--socket", filepath.Join(t.TempDir(), "s"), "--config", bad}
			if code := run(t.Context(), args, nil, out, out); code != 1 {
				t.Fatalf("exit %d, want 1: %s", code, out.String())
			}
			if !strings.Contains(out.String(), tt.want) {
				t.Fatalf("error %q does not name %s", out.String(), tt.want)
			}
		})
	}
}

// TestExampleConfig: the shipped example loads, every key known.
func TestExampleConfig(t *testing.T) {
	f, fs, err := parseServeFlags([]string{"--config", "../../contrib/authpool.toml.example"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.poolConfig(fs.Args(), nil); err != nil {
		t.Fatal(err)
	}
	if f.processes != 4 || f.metrics == "" {
		t.Fatalf("example not applied: %+v", f)
	}
}

// TestReloadUnderLoad: SIGHUP with a new helper command in the config file
// replaces every helper while requests keep coming, and none fails; a
// config that does not load keeps the running one.
func TestReloadUnderLoad(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "authpool.toml")
	writeFile(t, conf, fmt.Sprintf("command = [%q]\nprocesses = 3\n", scripts(t, "sample.py")))
	d := startDaemon(t, append(noPenalties, "--config", conf)...)
	load := startSteadyLoad(t, d.socket, 6)
	servedSince := func(n int) func() bool {
		return func() bool { return load.count() > n }
	}
	within(t, "requests to flow before the reload", servedSince(0))
	writeFile(t, conf, fmt.Sprintf("command = [%q]\nprocesses = 2\n", scripts(t, "sample.pl")))
	d.cmd.Process.Signal(syscall.SIGHUP)
	within(t, "every helper to be Perl", func() bool {
		r := statusOf(t, d.socket)
		if len(r.Helpers) != 2 {
			return false
		}
		for _, h := range r.Helpers {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", h.PID))
			if h.PID == 0 || !strings.Contains(string(b), "sample.pl") {
				return false
			}
		}
		return true
	})
	within(t, "the Perl helpers to serve", servedSince(load.count()))
	// A broken file: logged, and the Perl helpers keep serving.
	writeFile(t, conf, "command = [\n")
	d.cmd.Process.Signal(syscall.SIGHUP)
	within(t, "the failed reload to be logged", func() bool {
		return strings.Contains(d.logs.String(), "reload failed; keeping the running configuration")
	})
	answered, wrong := load.stop()
	if wrong > 0 || answered < 50 {
		t.Fatalf("%d of %d requests failed or were wrong during the reload", wrong, answered)
	}
	d.dial().want("auth:alice:example.com:wonderland", "1")
	t.Logf("%d requests answered during the reload, none failed", answered)
}

// TestSocketActivation: a listener handed in by fd, as systemd does, is
// served, and systemd is told READY=1 once the helpers are up and
// STOPPING=1 at shutdown.
func TestSocketActivation(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "activated.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	lf, err := l.File()
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false) // the file stays: the daemon serves it
	l.Close()                 // the daemon holds its own copy, fd 3
	defer lf.Close()
	notify := filepath.Join(dir, "notify.sock")
	nc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notify, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()

	// LISTEN_PID must be the daemon's own pid: sh sets it, then execs.
	cmd := exec.Command("sh", "-c", `LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@"`, os.Args[0],
		"serve", "--socket", filepath.Join(dir, "not-used.sock"), "--processes", "2", "--log-level", "debug",
		"--", scripts(t, "sample.py"))
	cmd.Env = append(os.Environ(), mainEnv+"=1", "LISTEN_FDS=1", "LISTEN_FDNAMES=main", "NOTIFY_SOCKET="+notify)
	cmd.ExtraFiles = []*os.File{lf}
	d := startDaemonCmd(t, cmd, sock)
	d.dial().want("auth:alice:example.com:wonderland", "1")
	if _, err := os.Stat(filepath.Join(dir, "not-used.sock")); !os.IsNotExist(err) {
		t.Errorf("the daemon made its own socket too: %v", err)
	}
	if !strings.Contains(d.logs.String(), `msg="authpool serving" socket=`+sock+" ") {
		t.Errorf("the serving line does not name the socket systemd handed over (%s):\n%s", sock, d.logs.String())
	}
	readNotify := func() string {
		nc.SetReadDeadline(time.Now().Add(20 * time.Second))
		buf := make([]byte, 256)
		n, err := nc.Read(buf)
		if err != nil {
			t.Fatalf("no message to systemd: %v", err)
		}
		return string(buf[:n])
	}
	if msg := readNotify(); msg != "READY=1" {
		t.Fatalf("first message to systemd %q, want READY=1", msg)
	}
	if r := statusOf(t, sock); len(r.Helpers) != 2 || r.Helpers[0].State != "ready" || r.Helpers[1].State != "ready" {
		t.Errorf("READY=1 before the helpers were up: %+v", r.Helpers)
	}
	d.stop()
	if msg := readNotify(); msg != "STOPPING=1" {
		t.Fatalf("message at shutdown %q, want STOPPING=1", msg)
	}
}

func TestMetricsAndHealth(t *testing.T) {
	dir := t.TempDir()
	msock := filepath.Join(dir, "metrics.sock")
	d := startDaemon(t, "--metrics", "unix:"+msock, "--", scripts(t, "sample.py"))
	c := d.dial()
	c.want("auth:alice:example.com:wonderland", "1")
	c.want("auth:alice:example.com:"+secretMark, "0")
	hc := unixHTTP(msock)
	get := func(path string) (int, string) {
		resp, err := hc.Get("http://authpool" + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, page := get("/metrics")
	if code != 200 || !strings.Contains(page, `authpool_requests_total{op="auth",result="yes"} 1`) ||
		!strings.Contains(page, `authpool_requests_total{op="auth",result="no"} 1`) {
		t.Fatalf("metrics %d:\n%s", code, page)
	}
	if strings.Contains(page, "alice") || strings.Contains(page, secretMark) {
		t.Fatal("a user or password in the metrics")
	}
	if code, body := get("/healthz"); code != 200 {
		t.Fatalf("healthz %d %q with helpers up", code, body)
	}
	if code, body := get("/status"); code != 200 || !strings.Contains(body, `"helpers"`) {
		t.Fatalf("status %d %q", code, body)
	}

	down, gate := filepath.Join(dir, "down.sock"), filepath.Join(dir, "gate")
	dd := startDaemon(t, "--metrics", "unix:"+down, "--", scripts(t, "crashloop.sh"), "", gate)
	writeFile(t, gate, "") // from now on, every helper dies at once
	dd.dial().want("auth:alice:example.com:wonderland", "0")
	hc = unixHTTP(down)
	within(t, "healthz 503 while no helper runs", func() bool {
		code, _ := get("/healthz")
		return code == 503
	})
}

// TestCacheEndToEnd: with --cache-ttl, a repeated login is answered
// without asking a helper, and a password change through authpool asks
// again.
func TestCacheEndToEnd(t *testing.T) {
	log := filepath.Join(t.TempDir(), "asked.log")
	// --no-confirm-yes: each request asked once (a new helper's first yes
	// answers are otherwise asked twice), so the count is the cache's.
	d := startDaemon(t, "--cache-ttl", "1m", "--negative-cache-ttl", "1m", "--no-confirm-yes",
		"--", scripts(t, "chaos.py"), "--log", log, "--fault-rate", "0")
	c := d.dial()
	asked := func() int { return strings.Count(readFile(t, log), " u1 ") }
	for range 3 {
		c.want("auth:u1:example.com:pw-u1", "1")
		c.want("auth:u1:example.com:"+secretMark, "0")
	}
	if n := asked(); n != 2 {
		t.Fatalf("helper asked %d times for 6 requests, want 2 (one yes, one no)", n)
	}
	c.want("setpass:u1:example.com:"+secretMark+"-new", "1")
	c.want("auth:u1:example.com:pw-u1", "1")
	if n := asked(); n != 4 {
		t.Fatalf("helper asked %d times, want 4: setpass must drop the cached answers", n)
	}
	if r := statusOf(t, d.socket); r.Cache == nil || r.Cache.Hits != 4 {
		t.Fatalf("cache status %+v", r.Cache)
	}
}
