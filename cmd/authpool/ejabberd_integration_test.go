//go:build integration

package main

// A real ejabberd on 127.0.0.1 authenticates every login through
//
//	ejabberd -> authpool connect --protocol ejabberd -> authpool serve -> testscripts/sample.py
//
// and go-sendxmpp logs in. Run with "make integration" (as root: it
// installs ejabberd and go-sendxmpp from Debian when missing). The recipe
// is ../shared/peers/ejabberd/start.sh, verified on this machine kind.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestEjabberdLogins(t *testing.T) {
	for _, bin := range []string{"/usr/sbin/ejabberdctl", "go-sendxmpp", "openssl"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s is missing: run make integration as root, which installs it", bin)
		}
	}
	startScript, err := filepath.Abs("../../../shared/peers/ejabberd/start.sh")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(startScript); err != nil {
		t.Fatalf("ejabberd recipe not found beside the repository: %v", err)
	}

	// ejabberd runs as its own user: everything it touches must be
	// reachable by it, so the scratch folder is world-traversable and the
	// daemon's socket belongs to the ejabberd group.
	dir, err := os.MkdirTemp("", "authpool-ejabberd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	bin := filepath.Join(dir, "authpool")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	helper := scripts(t, "sample.py")
	helperCopy := filepath.Join(dir, "sample.py")
	if b, err := os.ReadFile(helper); err != nil {
		t.Fatal(err)
	} else if err := os.WriteFile(helperCopy, b, 0o755); err != nil {
		t.Fatal(err)
	}
	socket := filepath.Join(dir, "authpool.sock")
	daemonArgs := []string{"serve", "--penalty-base", "0", "--socket", socket, "--socket-group", "ejabberd", "--processes", "2",
		"--log-level", "debug", "--", helperCopy}
	d := startBinaryDaemon(t, bin, daemonArgs...)

	port := 15222 + os.Getpid()%1000
	ejdir := filepath.Join(dir, "ejabberd")
	program := bin + " connect --socket " + socket + " --protocol ejabberd --timeout 20s"
	out, err := exec.Command("sh", startScript, ejdir, program, strconv.Itoa(port), "2").CombinedOutput()
	if err != nil {
		t.Fatalf("ejabberd did not start: %v\n%s\n%s", err, out, readFileOr(filepath.Join(ejdir, "foreground.out")))
	}
	ctl := strings.Fields(strings.TrimSpace(lastLine(string(out))))
	t.Cleanup(func() {
		exec.Command(ctl[0], append(ctl[1:], "stop")...).Run()
		exec.Command(ctl[0], append(ctl[1:], "stopped")...).Run()
		// ejabberd started epmd if none ran; it is ours to stop.
		exec.Command("epmd", "-kill").Run()
		if t.Failed() {
			t.Logf("ejabberd log:\n%s", tail(readFileOr(filepath.Join(ejdir, "logs", "ejabberd.log")), 4000))
		}
	})

	login := func(user, pass string) bool {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go-sendxmpp", "-u", user+"@example.com", "-p", pass,
			"-j", fmt.Sprintf("127.0.0.1:%d", port), "-n", user+"@example.com")
		cmd.Stdin = strings.NewReader("hello from the authpool integration test")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		if ctx.Err() != nil {
			t.Fatalf("go-sendxmpp as %s hung", user)
		}
		if err != nil {
			if _, ok := err.(*exec.ExitError); !ok {
				t.Fatalf("go-sendxmpp: %v", err)
			}
		}
		return err == nil
	}

	for _, tt := range []struct {
		name, user, pass string
		want             bool
	}{
		{"right password", "alice", "wonderland", true},
		{"wrong password", "alice", secretMark, false},
		{"password with colons", "carol", "a:b:c", true},
		{"UTF-8 password", "dave", "pässwörd€", true},
		{"unknown user", "zed", "wonderland", false},
	} {
		if got := login(tt.user, tt.pass); got != tt.want {
			t.Errorf("%s: logged in %v, want %v", tt.name, got, tt.want)
		}
	}

	// Every helper killed: the next login still works.
	pids := regexp.MustCompile(`msg="helper ready" slot=\d+ pid=(\d+)`).FindAllStringSubmatch(d.logs.String(), -1)
	if len(pids) == 0 {
		t.Fatal("no helper pids in the daemon log")
	}
	for _, m := range pids {
		pid, _ := strconv.Atoi(m[1])
		syscall.Kill(pid, syscall.SIGKILL)
	}
	if !login("alice", "wonderland") {
		t.Error("login right after every helper was killed refused")
	}

	// The daemon restarts: the bridges ejabberd runs reconnect.
	d.stop()
	startBinaryDaemon(t, bin, daemonArgs...)
	for i := range 3 {
		if !login("bob", "builder") {
			t.Errorf("login %d after the daemon restarted refused", i+1)
		}
	}
}

// startBinaryDaemon is startDaemonOn for a built binary, which ejabberd can
// also run.
func startBinaryDaemon(t *testing.T, bin string, args ...string) *daemon {
	t.Helper()
	d := &daemon{t: t, socket: args[2], logs: logBuffer(t), done: make(chan error, 1)}
	d.cmd = exec.Command(bin, args...)
	d.cmd.Stdout, d.cmd.Stderr = d.logs, d.logs
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.done <- d.cmd.Wait() }()
	t.Cleanup(func() {
		d.stop()
		if t.Failed() {
			t.Logf("daemon output:\n%s", tail(d.logs.String(), 4000))
		}
	})
	within(t, "the daemon to listen", func() bool { return strings.Contains(d.logs.String(), "authpool serving") })
	return d
}

func readFileOr(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
