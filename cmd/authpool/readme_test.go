package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
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

// The README's shell blocks are run as written. Each ```sh block follows
// a comment that says how:
//
//	<!-- test: run -->            run as written
//	<!-- test: daemon -->         run as written, with the daemon of `make run` serving
//	<!-- test: daemon, output --> also: a command's "# LINE" comments that follow it are its output
//	<!-- test: skip (REASON) -->  not runnable here, and why
//
// A block without one fails the test. Each command runs with bash in a
// directory of its own holding bin/authpool (built from this tree) and
// testscripts/, as a checkout after `make build` does; a trailing comment
// "exit N" is its exit status (else 0).

// readmeBlock is one ```sh block of the README.
type readmeBlock struct {
	line     int    // of its opening fence
	how      string // run, daemon, or skip
	output   bool
	commands []readmeCommand
}

type readmeCommand struct {
	line   int
	text   string // continuation lines joined
	exit   int
	output []string
}

var (
	testMark = regexp.MustCompile(`^<!-- test: (run|daemon|skip)(, output)?( \(.+\))? -->$`)
	exitMark = regexp.MustCompile(`#.*\bexit (\d+)\s*$`)
)

func readmeBlocks(t *testing.T) []readmeBlock {
	t.Helper()
	f, err := os.Open("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var blocks []readmeBlock
	var b *readmeBlock
	mark, n := "", 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		n++
		line := sc.Text()
		switch {
		case b == nil && line == "```sh":
			m := testMark.FindStringSubmatch(mark)
			if m == nil {
				t.Errorf("README.md:%d: a sh block without a <!-- test: run|daemon|skip (reason) --> line before it", n)
				m = []string{"", "skip", "", ""}
			}
			if m[1] == "skip" && m[3] == "" {
				t.Errorf("README.md:%d: a skipped block must say why", n)
			}
			blocks = append(blocks, readmeBlock{line: n, how: m[1], output: m[2] != ""})
			b = &blocks[len(blocks)-1]
		case b != nil && line == "```":
			b = nil
		case b != nil:
			b.add(n, line)
		}
		if strings.TrimSpace(line) != "" {
			mark = line
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return blocks
}

func (b *readmeBlock) add(n int, line string) {
	last := len(b.commands) - 1
	trimmed := strings.TrimSpace(line)
	switch {
	case last >= 0 && strings.HasSuffix(b.commands[last].text, "\\"):
		c := &b.commands[last]
		c.text = strings.TrimSuffix(c.text, "\\") + " " + trimmed
		if m := exitMark.FindStringSubmatch(trimmed); m != nil {
			c.exit, _ = strconv.Atoi(m[1])
		}
	case trimmed == "":
	case strings.HasPrefix(trimmed, "#"):
		if b.output && last >= 0 {
			b.commands[last].output = append(b.commands[last].output, strings.TrimSpace(strings.TrimPrefix(trimmed, "#")))
		}
	default:
		c := readmeCommand{line: n, text: line}
		if m := exitMark.FindStringSubmatch(line); m != nil {
			c.exit, _ = strconv.Atoi(m[1])
		}
		b.commands = append(b.commands, c)
	}
}

// TestReadmeCommands runs every command of the README that can run here,
// and fails if one no longer does what the README says.
func TestReadmeCommands(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	blocks := readmeBlocks(t)
	var runs, daemons int
	for _, b := range blocks {
		switch b.how {
		case "run":
			runs++
		case "daemon":
			daemons++
		}
	}
	if runs == 0 || daemons == 0 {
		t.Fatalf("the README has %d blocks to run and %d to run with the daemon: the marks are not read", runs, daemons)
	}

	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(dir, "bin", "authpool"), "./cmd/authpool")
	build.Dir = "../.."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	if out, err := exec.Command("cp", "-r", "../../testscripts", dir).CombinedOutput(); err != nil {
		t.Fatalf("copying testscripts: %v\n%s", err, out)
	}

	daemonUp := false
	for _, b := range blocks {
		if b.how == "skip" {
			continue
		}
		if b.how == "daemon" && !daemonUp {
			startMakeRun(t, dir)
			daemonUp = true
		}
		for _, c := range b.commands {
			name := fmt.Sprintf("README.md:%d", c.line)
			out := logBuffer(t)
			cctx, ccancel := context.WithTimeout(ctx, 2*time.Minute)
			cmd := exec.CommandContext(cctx, "bash", "-c", c.text)
			cmd.Dir = dir
			cmd.Stdout = out
			stderr := logBuffer(t)
			cmd.Stderr = stderr
			cmd.WaitDelay = 5 * time.Second
			err := cmd.Run()
			ccancel()
			code := cmd.ProcessState.ExitCode()
			if code != c.exit {
				t.Errorf("%s: %s\nexit %d (%v), the README says %d\nstdout:\n%s\nstderr:\n%s", name, c.text, code, err, c.exit, out.String(), stderr.String())
				continue
			}
			if b.output {
				got := strings.Fields(out.String())
				if strings.Join(got, " ") != strings.Join(c.output, " ") {
					t.Errorf("%s: %s\nprinted %q, the README says %q", name, c.text, got, c.output)
				}
			}
		}
	}
}

// startMakeRun runs `make run` in dir, with the binary already built
// (GO=true makes its build step a no-op), until the test ends, and waits
// until it serves on ./authpool.sock.
func startMakeRun(t *testing.T, dir string) {
	t.Helper()
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatal("no make: the daemon blocks need `make run`")
	}
	makefile, err := filepath.Abs("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	// make run's own lines name the demo passwords, on purpose: the scan
	// reads the daemon's log lines.
	logs := &syncBuffer{}
	t.Cleanup(func() {
		scanned := logBuffer(t)
		for _, l := range strings.SplitAfter(logs.String(), "\n") {
			if strings.HasPrefix(l, "time=") {
				scanned.Write([]byte(l))
			}
		}
	})
	cmd := exec.Command("make", "-f", makefile, "run", "GO=true")
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
			t.Errorf("make run did not stop on SIGTERM:\n%s", logs.String())
		}
	})
	sock := filepath.Join(dir, "authpool.sock")
	within(t, "make run serving", func() bool {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("make run exited: %v\n%s", err, logs.String())
		default:
		}
		if !strings.Contains(logs.String(), "authpool serving") {
			return false
		}
		c, err := net.Dial("unix", sock)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}
