package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/authpool/authpool/framing"
)

// bridge is an "authpool connect" process, fed and read as an XMPP server
// would.
type bridge struct {
	t    *testing.T
	in   io.WriteCloser
	out  *bufio.Reader
	errs *syncBuffer
	done chan error
}

func startBridge(t *testing.T, args ...string) *bridge {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"connect"}, args...)...)
	cmd.Env = append(os.Environ(), mainEnv+"=1")
	b := &bridge{t: t, errs: logBuffer(t), done: make(chan error, 1)}
	cmd.Stderr = b.errs
	var err error
	if b.in, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	b.out = bufio.NewReader(out)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { b.done <- cmd.Wait() }()
	t.Cleanup(func() {
		b.in.Close()
		select {
		case <-b.done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			t.Error("connect did not exit on end of input")
		}
		if t.Failed() {
			t.Logf("connect stderr:\n%s", b.errs.String())
		}
	})
	return b
}

// read reads n bytes of answers, bounded.
func (b *bridge) read(n int) string {
	b.t.Helper()
	got := make(chan string, 1)
	go func() {
		buf := make([]byte, n)
		k, _ := io.ReadFull(b.out, buf)
		got <- string(buf[:k])
	}()
	select {
	case s := <-got:
		return s
	case <-time.After(20 * time.Second):
		b.t.Fatal("no answer from connect")
		return ""
	}
}

func frame(payload string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(payload))), payload...)
}

func TestConnectEjabberd(t *testing.T) {
	socket := filepath.Join(t.TempDir(), "authpool.sock")
	d := startDaemonOn(t, socket, "--processes", "2", "--", scripts(t, "sample.py"))
	b := startBridge(t, "--socket", socket, "--protocol", "ejabberd", "--timeout", "2s")
	yes, no := string(framing.Ejabberd.AppendAnswer(nil, true)), string(framing.Ejabberd.AppendAnswer(nil, false))

	// A batch in one write, and a request split across writes.
	var batch []byte
	for _, p := range []string{"auth:alice:example.com:wonderland", "auth:alice:example.com:" + secretMark, "isuser:bob:example.com", "auth:carol:example.com:a:b:c", "auth:dave:example.com:pässwörd€"} {
		batch = append(batch, frame(p)...)
	}
	b.in.Write(batch)
	if got, want := b.read(20), yes+no+yes+yes+yes; got != want {
		t.Fatalf("batch answers % x, want % x", got, want)
	}
	f := frame("auth:bob:example.com:builder")
	for _, part := range [][]byte{f[:1], f[1:7], f[7:]} {
		b.in.Write(part)
		time.Sleep(5 * time.Millisecond)
	}
	if got := b.read(4); got != yes {
		t.Fatalf("split request: % x", got)
	}
	// Malformed requests are answered no, and the bridge goes on.
	b.in.Write(append(frame("auth:al:ice:example.com:x"), frame("hello")...))
	if got := b.read(8); got != no+no {
		t.Fatalf("malformed: % x", got)
	}

	// The daemon restarts: the same bridge reconnects.
	d.stop()
	startDaemonOn(t, socket, "--", scripts(t, "sample.py"))
	b.in.Write(frame("auth:alice:example.com:wonderland"))
	if got := b.read(4); got != yes {
		t.Fatalf("after daemon restart: % x", got)
	}
}

func TestConnectDaemonGone(t *testing.T) {
	socket := filepath.Join(t.TempDir(), "authpool.sock")
	b := startBridge(t, "--socket", socket, "--timeout", "300ms")
	// No daemon: each answer is no, after at most the timeout.
	b.in.Write([]byte("auth:alice:example.com:wonderland\nisuser:bob:example.com\n"))
	if got := b.read(4); got != "0\n0\n" {
		t.Fatalf("answers %q", got)
	}
	// It comes up: answers resume on the same bridge (the first may still
	// miss the short timeout while the helper starts on a loaded machine).
	startDaemonOn(t, socket, "--", scripts(t, "sample.py"))
	within(t, "answers to resume", func() bool {
		b.in.Write([]byte("auth:alice:example.com:wonderland\n"))
		return b.read(2) == "1\n"
	})
	if !strings.Contains(b.errs.String(), "unreachable") {
		t.Errorf("unreachable daemon not logged: %s", b.errs.String())
	}
}

func TestConnectExitsOnEOF(t *testing.T) {
	b := startBridge(t, "--socket", filepath.Join(t.TempDir(), "none"))
	b.in.Close()
	select {
	case err := <-b.done:
		if err != nil {
			t.Fatalf("exit: %v", err)
		}
		b.done <- nil
	case <-time.After(20 * time.Second):
		t.Fatal("connect did not exit on end of input")
	}
}

func TestConnectSettings(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "connect.toml")
	os.WriteFile(file, []byte("socket = \"/from/file.sock\"\ntimeout = \"4s\"\nlog-level = \"error\"\n"), 0o600)
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte("command = \"x\"\n"), 0o600)
	for _, tt := range []struct {
		name    string
		args    []string
		env     map[string]string
		want    connectSettings
		wantErr string
	}{
		{name: "file under env under flags", args: []string{"--config", file, "--socket", "/from/flag.sock"},
			env:  map[string]string{"AUTHPOOL_SOCKET": "/from/env.sock", "AUTHPOOL_TIMEOUT": "2s"},
			want: connectSettings{socket: "/from/flag.sock", timeout: 2 * time.Second, logLevel: "error", protocol: "generic", ends: endpointFlags{socketSet: true}}},
		{name: "file named by the environment", env: map[string]string{"AUTHPOOL_CONNECT_CONFIG": file},
			want: connectSettings{socket: "/from/file.sock", timeout: 4 * time.Second, logLevel: "error", protocol: "generic", ends: endpointFlags{socketSet: true}}},
		{name: "environment alone", env: map[string]string{"AUTHPOOL_CONNECT_CONFIG": "/dev/null", "AUTHPOOL_PROTOCOL": "ejabberd", "AUTHPOOL_LOG_FILE": "/x.log"},
			want: connectSettings{socket: defaultSocket(), protocol: "ejabberd", logFile: "/x.log", logLevel: "warn"}},
		{name: "endpoints", args: []string{"--config", "/dev/null", "--endpoint", "unix:/a.sock", "--endpoint", "tls://h:1", "--tls-cert", "c", "--tls-key", "k", "--tls-ca", "ca"},
			want: connectSettings{socket: defaultSocket(), protocol: "generic", logLevel: "warn",
				ends: endpointFlags{endpoints: multiFlag{"unix:/a.sock", "tls://h:1"}, cert: "c", key: "k", ca: "ca"}}},
		{name: "a named file must exist", args: []string{"--config", filepath.Join(dir, "missing.toml")}, wantErr: "missing.toml"},
		{name: "keys are connect's flags", args: []string{"--config", bad}, wantErr: `key "command": unknown key (keys are the flags of authpool connect`},
		{name: "bad environment value", env: map[string]string{"AUTHPOOL_CONNECT_CONFIG": "/dev/null", "AUTHPOOL_TIMEOUT": "soon"}, wantErr: "environment AUTHPOOL_TIMEOUT"},
		{name: "negative timeout", args: []string{"--config", "/dev/null", "--timeout", "-1s"}, wantErr: "--timeout -1s: cannot be negative"},
		{name: "no arguments", args: []string{"--config", "/dev/null", "extra"}, wantErr: `unexpected argument "extra"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			got, err := parseConnectSettings(tt.args, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got.config = ""
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("settings %+v, want %+v", *got, tt.want)
			}
		})
	}
}

// On the caller's pty, a start-up error is one line that cannot be taken
// for an answer, and Prosody's module logs it (it begins with "error:").
func TestConnectStartErrorOnPTY(t *testing.T) {
	c := startPTYCaller(t, 5*time.Second, []string{"AUTHPOOL_TIMEOUT=soon"}, "")
	c.master.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4096)
	n, _ := c.master.Read(buf)
	got := string(buf[:n])
	if !strings.HasPrefix(got, "error: authpool-connect: environment AUTHPOOL_TIMEOUT") || strings.Count(got, "\n") != 1 {
		t.Errorf("start-up error on the pty: %q", got)
	}
	select {
	case err := <-c.done:
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 2 {
			t.Errorf("exit: %v, want status 2", err)
		}
		c.done <- err
	case <-time.After(20 * time.Second):
		t.Fatal("connect did not exit")
	}
}

// The README's Prosody setup for the external module is consistent:
// its connect.toml loads as connect's settings, and connect's timeout
// ends before the external_auth_timeout it shows.
func TestReadmeProsodyExternalConfig(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	block := func(after, lang string) string {
		i := strings.Index(readme, after)
		if i < 0 {
			t.Fatalf("README has no %q", after)
		}
		j := strings.Index(readme[i:], "```"+lang+"\n")
		if j < 0 {
			t.Fatalf("no %s block after %q", lang, after)
		}
		body := readme[i+j+len(lang)+4:]
		return body[:strings.Index(body, "```")]
	}
	conf := filepath.Join(t.TempDir(), "connect.toml")
	os.WriteFile(conf, []byte(block("### Prosody: mod_auth_external_insecure", "toml")), 0o600)
	s, err := parseConnectSettings([]string{"--config", conf}, io.Discard)
	if err != nil {
		t.Fatalf("README's connect.toml: %v", err)
	}
	var callerTimeout time.Duration
	for _, line := range strings.Split(readme[strings.Index(readme, "### Prosody: mod_auth_external_insecure"):], "\n") {
		if v, ok := strings.CutPrefix(line, "external_auth_timeout = "); ok {
			callerTimeout, _ = time.ParseDuration(strings.TrimSpace(v) + "s")
			break
		}
	}
	if callerTimeout == 0 || s.timeout == 0 || s.timeout >= callerTimeout {
		t.Errorf("README: connect timeout %v, external_auth_timeout %v: connect must answer first", s.timeout, callerTimeout)
	}
	if connectTimeoutGeneric >= 5*time.Second {
		t.Errorf("connect's default timeout %v is not below Prosody's default of 5s", connectTimeoutGeneric)
	}
}
