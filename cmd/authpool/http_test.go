package main

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// unixHTTP is an HTTP client that dials a Unix socket.
func unixHTTP(path string) *http.Client {
	return &http.Client{
		Timeout: 20 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}},
	}
}

// credsFile writes HTTP credentials to a file only its owner can read.
func credsFile(t *testing.T, creds string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "creds")
	if err := os.WriteFile(p, []byte(creds+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestHTTPAPI drives every mod_auth_http method against a running daemon,
// as Prosody's mod_auth_http sends them.
func TestHTTPAPI(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "http.sock")
	credFile := filepath.Join(dir, "creds")
	os.WriteFile(credFile, []byte("prosody:"+secretMark+"-http\n"), 0o600)
	startDaemon(t, "--protocol", "ejabberd", "--http", "unix:"+sock, "--http-credentials-file", credFile,
		"--", scripts(t, "ejabberd.py"))
	hc := unixHTTP(sock)
	do := func(verb, method string, params url.Values, auth bool) (int, string) {
		t.Helper()
		var req *http.Request
		if verb == http.MethodGet {
			req, _ = http.NewRequest(verb, "http://authpool/api/"+method+"?"+params.Encode(), nil)
		} else {
			req, _ = http.NewRequest(verb, "http://authpool/api/"+method, strings.NewReader(params.Encode()))
			req.Header.Set("Content-Type", "application/x/www-form-urlencoded")
		}
		if auth {
			req.SetBasicAuth("prosody", secretMark+"-http")
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	q := func(kv ...string) url.Values {
		v := url.Values{}
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	tests := []struct {
		verb, method string
		params       url.Values
		auth         bool
		status       int
		body         string
	}{
		{"GET", "check_password", q("user", "alice", "server", "example.com", "pass", "wonderland"), false, 401, ""},
		{"GET", "check_password", q("user", "alice", "server", "example.com", "pass", "wonderland"), true, 200, "true"},
		{"GET", "check_password", q("user", "alice", "server", "example.com", "pass", secretMark), true, 200, "false"},
		{"GET", "check_password", q("user", "carol", "server", "example.com", "pass", "a:b:c"), true, 200, "true"},
		{"GET", "check_password", q("user", "dave", "server", "example.com", "pass", "pässwörd€"), true, 200, "true"},
		{"GET", "user_exists", q("user", "bob", "server", "example.com"), true, 200, "true"},
		{"GET", "user_exists", q("user", "erin", "server", "example.com"), true, 200, "false"},
		{"POST", "register", q("user", "erin", "server", "example.com", "pass", secretMark+"-erin"), true, 201, ""},
		{"POST", "register", q("user", "erin", "server", "example.com", "pass", "x"), true, 409, "false"},
		{"GET", "check_password", q("user", "erin", "server", "example.com", "pass", secretMark+"-erin"), true, 200, "true"},
		{"POST", "set_password", q("user", "erin", "server", "example.com", "pass", secretMark+"-new"), true, 204, ""},
		{"GET", "check_password", q("user", "erin", "server", "example.com", "pass", secretMark+"-new"), true, 200, "true"},
		{"POST", "set_password", q("user", "nobody", "server", "example.com", "pass", "x"), true, 403, "false"},
		{"POST", "remove_user", q("user", "erin", "server", "example.com"), true, 204, ""},
		{"POST", "remove_user", q("user", "erin", "server", "example.com"), true, 404, "false"},
		{"GET", "user_exists", q("user", "erin", "server", "example.com"), true, 200, "false"},
		{"GET", "check_password", q("user", "al:ice", "server", "example.com", "pass", "x"), true, 400, ""},
		{"GET", "set_password", q("user", "bob", "server", "example.com", "pass", "x"), true, 405, ""},
		{"GET", "list_users", nil, true, 404, ""},
	}
	for _, tt := range tests {
		status, body := do(tt.verb, tt.method, tt.params, tt.auth)
		if status != tt.status || (tt.body != "" && body != tt.body) {
			t.Errorf("%s %s %v: %d %q, want %d %q", tt.verb, tt.method, tt.params.Get("user"), status, body, tt.status, tt.body)
		}
	}
}

func TestHTTPNotExpressibleAndDown(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "http.sock")
	// Each request after "hang" goes to a fresh helper, whose caller waits
	// --timeout for it to start and answer: long enough for Python on a
	// loaded machine.
	startDaemon(t, "--http", "unix:"+sock, "--http-insecure-no-auth", "--timeout", "2s", "--start-timeout", "100ms", "--", scripts(t, "misbehave.py"))
	hc := unixHTTP(sock)
	for _, tt := range []struct {
		verb, target string
		status       int
	}{
		{"POST", "/register", 501},
		{"POST", "/remove_user", 501},
		{"GET", "/check_password?user=hang&server=example.com&pass=x", 504},
		{"GET", "/check_password?user=garbage&server=example.com&pass=x", 502},
		{"GET", "/check_password?user=alice&server=example.com&pass=wonderland", 200},
	} {
		req, _ := http.NewRequest(tt.verb, "http://authpool"+tt.target, strings.NewReader("user=a&server=b&pass=c"))
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Errorf("%s %s: %d, want %d", tt.verb, tt.target, resp.StatusCode, tt.status)
		}
	}
}

func TestHTTPUnavailable(t *testing.T) {
	sock, gate := filepath.Join(t.TempDir(), "http.sock"), filepath.Join(t.TempDir(), "gate")
	startDaemon(t, "--http", "unix:"+sock, "--http-insecure-no-auth", "--processes", "2", "--", scripts(t, "crashloop.sh"), "", gate)
	writeFile(t, gate, "") // from now on, every helper dies at once
	hc := unixHTTP(sock)
	within(t, "503 from a crash-looping helper", func() bool {
		resp, err := hc.Get("http://authpool/check_password?user=alice&server=example.com&pass=wonderland")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 503 && resp.StatusCode != 502 {
			t.Fatalf("status %d, want 502 (helper died under the request) or 503", resp.StatusCode)
		}
		return resp.StatusCode == 503 && resp.Header.Get("Retry-After") != ""
	})
}

func TestNativeProtocolEndToEnd(t *testing.T) {
	d := startDaemon(t, "--processes", "2", "--timeout", "3s", "--", scripts(t, "misbehave.py"), "--late-seconds", "0.3")
	c := d.dial()
	// The late one is asked first and answered last.
	got := c.ask("1 auth:late:example.com:late", "2 auth:alice:example.com:wonderland")
	if got[0] != "2 1" || got[1] != "1 1" {
		t.Fatalf("answers %q, want [2 1] then [1 1]", got)
	}
	for _, tt := range []struct{ line, want string }{
		{"3 auth:hang:example.com:x", "3 error timeout"},
		{"4 auth:garbage:example.com:x", "4 error protocol"},
		{"5 auth:crash:example.com:x", "5 error exited"},
		{"6 auth::example.com:x", "6 error badrequest"},
		{"7 tryregister:bob:example.com:x", "7 error badrequest"},
		{"8 auth:alice:example.com:" + secretMark, "8 0"},
	} {
		if a := c.ask(tt.line)[0]; a != tt.want && !strings.HasPrefix(a, tt.want+" ") {
			t.Errorf("%s: %q, want %q", tt.line, a, tt.want)
		}
	}
}

func TestHTTPLoopbackOnly(t *testing.T) {
	d := startDaemon(t, "--http", "127.0.0.1:0", "--http-credentials-file", credsFile(t, "prosody:"+secretMark+"-http"),
		"--", scripts(t, "sample.py"))
	var addr string
	within(t, "the http address in the log", func() bool {
		m := regexp.MustCompile(`msg="http listening" addr=(\S+)`).FindStringSubmatch(d.logs.String())
		if m != nil {
			addr = m[1]
		}
		return m != nil
	})
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/user_exists?user=bob&server=example.com", nil)
	req.SetBasicAuth("prosody", secretMark+"-http")
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "true" {
		t.Fatalf("user_exists over TCP: %d %q", resp.StatusCode, body)
	}
	out := logBuffer(t)
	args := []string{"serve", "--socket", filepath.Join(t.TempDir(), "s"), "--http", "0.0.0.0:0", "--", scripts(t, "sample.py")}
	if code := run(t.Context(), args, strings.NewReader(""), out, out); code == 0 || !strings.Contains(out.String(), "not a loopback address: passwords travel in clear") {
		t.Fatalf("--http 0.0.0.0: exit %d, %s", code, out.String())
	}
	// The metrics listener carries no password: its refusal says its own
	// reason.
	out = logBuffer(t)
	args = []string{"serve", "--socket", filepath.Join(t.TempDir(), "s"), "--metrics", "0.0.0.0:0", "--", scripts(t, "sample.py")}
	if code := run(t.Context(), args, strings.NewReader(""), out, out); code == 0 || !strings.Contains(out.String(), "not a loopback address: metrics and status") || strings.Contains(out.String(), "passwords") {
		t.Fatalf("--metrics 0.0.0.0: exit %d, %s", code, out.String())
	}
}

func TestEjabberdSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "ejabberd.sock")
	startDaemon(t, "--ejabberd-socket", sock, "--", scripts(t, "sample.py"))
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	var in []byte
	for _, p := range []string{"auth:alice:example.com:wonderland", "auth:alice:example.com:" + secretMark, "isuser:bob:example.com"} {
		in = append(binary.BigEndian.AppendUint16(in, uint16(len(p))), p...)
	}
	c.Write(in)
	got := make([]byte, 12)
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if want := "\x00\x02\x00\x01\x00\x02\x00\x00\x00\x02\x00\x01"; string(got) != want {
		t.Fatalf("answers % x, want % x", got, want)
	}
}

func TestDisallowedUIDRefused(t *testing.T) {
	d := startDaemon(t, "--allow-uid", "54321", "--", scripts(t, "sample.py"))
	c, err := net.Dial("unix", d.socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	c.Write([]byte("auth:alice:example.com:wonderland\n"))
	if b, _ := io.ReadAll(c); len(b) != 0 {
		t.Fatalf("disallowed uid got an answer: %q", b)
	}
	within(t, "the refusal in the log", func() bool { return strings.Contains(d.logs.String(), "connection refused") })
}

// status and bench reach the HTTP API with credentials from a file or the
// environment, and never print them.
func TestHTTPClientCredentials(t *testing.T) {
	dir := t.TempDir()
	credsFile := filepath.Join(dir, "http.creds")
	const creds = "prosody:" + secretMark + "-http"
	os.WriteFile(credsFile, []byte(creds+"\n"), 0o600)
	d := startDaemon(t, "--http", "127.0.0.1:0", "--http-credentials-file", credsFile, "--", scripts(t, "sample.py"))
	url := "http://" + d.httpAddr()
	workload := scripts(t, "demo-credentials.txt")
	for _, tt := range []struct {
		name string
		args []string
		env  string
		code int
	}{
		{"status, no credentials", []string{"status", "--http", url}, "", 2},
		{"status, file", []string{"status", "--http", url, "--http-credentials-file", credsFile}, "", 0},
		{"status, environment", []string{"status", "--http", url}, creds, 0},
		{"bench, no credentials", []string{"bench", "--http", url, "--requests", "20", "--warmup", "0", "--progress", "none", "--credentials", workload}, "", 2},
		{"bench, file", []string{"bench", "--http", url, "--http-credentials-file", credsFile, "--requests", "20", "--warmup", "0", "--progress", "none", "--credentials", workload}, "", 0},
		{"bench, environment", []string{"bench", "--http", url, "--requests", "20", "--warmup", "0", "--progress", "none", "--credentials", workload}, creds, 0},
		{"file without --http", []string{"status", "--http-credentials-file", credsFile}, "", 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("AUTHPOOL_HTTP_CREDENTIALS", tt.env)
			out := logBuffer(t)
			if code := run(t.Context(), tt.args, strings.NewReader(""), out, out); code != tt.code {
				t.Errorf("exit %d, want %d:\n%s", code, tt.code, out.String())
			}
			if strings.Contains(out.String(), secretMark) {
				t.Errorf("the credentials were printed:\n%s", out.String())
			}
		})
	}
}
