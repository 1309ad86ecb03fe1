package ptyproc

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/authpool/authpool/internal/testutil"
)

var transports = []Transport{PTY, Pipe}

func start(t *testing.T, cfg Config) *Process {
	t.Helper()
	p, err := Start(cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// readLine reads one line within a bounded time.
func readLine(t *testing.T, p *Process, r *bufio.Reader) string {
	t.Helper()
	p.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("read: %v (got %q)", err, line)
	}
	return strings.TrimSuffix(line, "\n")
}

func TestBytesPassUnchanged(t *testing.T) {
	var all []byte
	for b := 1; b < 256; b++ {
		if b != '\n' {
			all = append(all, byte(b))
		}
	}
	inputs := map[string][]byte{
		"every byte":      all,
		"signal bytes":    []byte("\x03\x04\x13\x1a\x1c\x7f\x15\x17\r"),
		"eof at start":    []byte("\x04rest"),
		"over 4095 bytes": bytes.Repeat([]byte("0123456789"), 7000),
	}
	for _, tr := range transports {
		for name, in := range inputs {
			t.Run(tr.String()+"/"+name, func(t *testing.T) {
				p := start(t, fake("hexecho", tr))
				r := bufio.NewReader(p)
				p.SetWriteDeadline(time.Now().Add(10 * time.Second))
				if _, err := p.Write(append(append([]byte(nil), in...), '\n')); err != nil {
					t.Fatal(err)
				}
				// The first thing read must be the answer: an echo of the
				// request would come first.
				got, err := hex.DecodeString(readLine(t, p, r))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, in) {
					t.Fatalf("helper got %d bytes %.40q, want %d bytes %.40q", len(got), got, len(in), in)
				}
			})
		}
	}
}

func TestTransportIsATerminal(t *testing.T) {
	for _, tr := range transports {
		p := start(t, fake("isatty", tr))
		got := readLine(t, p, bufio.NewReader(p))
		if want := strconv.FormatBool(tr == PTY); got != want {
			t.Errorf("%s: stdout is a tty: %s, want %s", tr, got, want)
		}
	}
}

func TestMinimalEnvironment(t *testing.T) {
	t.Setenv("AUTHPOOL_SECRET_IN_HOST", "hunter2")
	p := start(t, fake("env", Pipe, "EXTRA=1"))
	env := strings.Split(readLine(t, p, bufio.NewReader(p)), ";")
	var keys []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		keys = append(keys, k)
	}
	for _, k := range keys {
		switch k {
		case "PATH", "HOME", "LANG", "EXTRA", helperEnvVar:
		default:
			t.Errorf("helper environment has %s", k)
		}
	}
	if !strings.Contains(strings.Join(env, ";"), "EXTRA=1") {
		t.Errorf("extra variable missing from %v", env)
	}
}

type syncBuffer = testutil.SyncBuffer

func TestStderrIsLoggedApart(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.String(), func(t *testing.T) {
			var logs syncBuffer
			cfg := fake("stderr", tr)
			cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			cfg.StderrLinesPerSecond = 20
			p := start(t, cfg)
			if got := readLine(t, p, bufio.NewReader(p)); got != "0" {
				t.Fatalf("stdout %q, want only the answer", got)
			}
			p.Close()
			out := logs.String()
			if !strings.Contains(out, "line=1") || !strings.Contains(out, "pid="+strconv.Itoa(p.Pid())) {
				t.Errorf("stderr line not logged with pid:\n%.500s", out)
			}
			if strings.Contains(out, strings.Repeat("x", 1025)) || !strings.Contains(out, strings.Repeat("x", 1024)+"...") {
				t.Error("long stderr line not cut at 1024 bytes")
			}
			if n := strings.Count(out, "flood"); n > 20 {
				t.Errorf("%d flood lines logged, want at most 20 a second", n)
			}
			if !strings.Contains(out, "suppressed") {
				t.Error("suppressed lines not reported")
			}
		})
	}
}

func TestExitIsEOF(t *testing.T) {
	for _, tr := range transports {
		p := start(t, fake("exit3", tr))
		select {
		case <-p.Done():
		case <-time.After(10 * time.Second):
			t.Fatal("exit not noticed")
		}
		if code := p.ExitState().ExitCode(); code != 3 {
			t.Errorf("%s: exit code %d, want 3", tr, code)
		}
		p.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadAll(p); err != nil {
			t.Errorf("%s: ReadAll after exit: %v, want EOF", tr, err)
		}
	}
}

func TestDeadlineAndCloseInterruptRead(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.String(), func(t *testing.T) {
			p := start(t, fake("hexecho", tr))
			p.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
			if _, err := p.Read(make([]byte, 10)); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("Read past deadline: %v", err)
			}
			if n, err := p.TryRead(make([]byte, 10)); n != 0 || err != nil {
				t.Fatalf("TryRead with nothing waiting = %d, %v", n, err)
			}
			p.SetReadDeadline(time.Time{})
			errc := make(chan error, 1)
			go func() {
				_, err := p.Read(make([]byte, 10))
				errc <- err
			}()
			time.Sleep(10 * time.Millisecond)
			p.Close()
			select {
			case err := <-errc:
				if !errors.Is(err, os.ErrClosed) && !errors.Is(err, io.EOF) {
					t.Fatalf("blocked Read ended with %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Close did not wake a blocked Read")
			}
		})
	}
}

func TestTryReadSeesWaitingOutput(t *testing.T) {
	p := start(t, fake("hexecho", PTY))
	p.Write([]byte("A\n"))
	buf := make([]byte, 10)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		n, err := p.TryRead(buf)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			if got := string(buf[:n]); got != "41\n" {
				t.Fatalf("TryRead = %q", got)
			}
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("TryRead never saw the answer")
}

func TestStopKillsGroupEvenIgnoringSIGTERM(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.String(), func(t *testing.T) {
			p := start(t, fake("hang", tr))
			gpid, err := strconv.Atoi(readLine(t, p, bufio.NewReader(p)))
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Stop(50 * time.Millisecond); err != nil {
				t.Fatalf("Stop: %v", err)
			}
			if !p.ExitState().Sys().(syscall.WaitStatus).Signaled() {
				t.Errorf("helper ended with %v, want killed", p.ExitState())
			}
			// The grandchild is not ours to reap: it is gone once the
			// kernel says so (init reaps it).
			deadline := time.Now().Add(10 * time.Second)
			for unix.Kill(gpid, 0) == nil {
				if time.Now().After(deadline) {
					t.Fatalf("grandchild %d still alive", gpid)
				}
				time.Sleep(5 * time.Millisecond)
			}
			if err := p.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
		})
	}
}

func TestStartErrors(t *testing.T) {
	if _, err := Start(Config{}); !errors.Is(err, ErrNoCommand) {
		t.Errorf("empty Args: %v", err)
	}
	if _, err := Start(Config{Args: []string{"/nonexistent/helper"}}); err == nil {
		t.Error("missing program started")
	}
	if _, err := ParseTransport("tcp"); err == nil {
		t.Error("ParseTransport accepted tcp")
	}
}
