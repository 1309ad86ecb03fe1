package ptyproc

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

// helperEnvVar names the fake helper the test binary runs as, the way
// os/exec's tests re-execute themselves.
const helperEnvVar = "PTYPROC_TEST_HELPER"

func TestMain(m *testing.M) {
	if name := os.Getenv(helperEnvVar); name != "" {
		os.Exit(runFakeHelper(name))
	}
	goleak.VerifyTestMain(m)
}

// fake returns a Config that runs the named fake helper.
func fake(name string, tr Transport, extraEnv ...string) Config {
	return Config{
		Args:      []string{os.Args[0]},
		Env:       append([]string{helperEnvVar + "=" + name}, extraEnv...),
		Transport: tr,
	}
}

func runFakeHelper(name string) int {
	in := bufio.NewReader(os.Stdin)
	switch name {
	case "hexecho":
		// Answers each line with the hex of its bytes, so the test sees
		// exactly what arrived.
		for {
			line, err := in.ReadBytes('\n')
			if err != nil {
				return 0
			}
			fmt.Printf("%s\n", hex.EncodeToString(line[:len(line)-1]))
		}
	case "isatty":
		_, err := unix.IoctlGetTermios(1, unix.TCGETS)
		fmt.Printf("%v\n", err == nil)
	case "env":
		env := os.Environ()
		sort.Strings(env)
		fmt.Printf("%s\n", strings.Join(env, ";"))
	case "stderr":
		fmt.Fprintln(os.Stderr, "1")
		fmt.Fprintln(os.Stderr, strings.Repeat("x", 5000))
		for i := 0; i < 200; i++ {
			fmt.Fprintf(os.Stderr, "flood %d\n", i)
		}
		fmt.Printf("0\n")
	case "exit3":
		return 3
	case "hang":
		// Ignores SIGTERM and forks a grandchild that holds the terminal:
		// the worst case for Stop.
		signal.Ignore(syscall.SIGTERM)
		child := exec.Command(os.Args[0])
		child.Env = []string{helperEnvVar + "=sleeper"}
		child.Stdin, child.Stdout = os.Stdin, os.Stdout
		if err := child.Start(); err != nil {
			return 1
		}
		fmt.Printf("%d\n", child.Process.Pid)
		select {}
	case "escaper":
		// Starts a grandchild in a session of its own, out of reach of a
		// signal to this helper's process group, and exits on "exit".
		child := exec.Command(os.Args[0])
		child.Env = []string{helperEnvVar + "=sleeper"}
		child.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if err := child.Start(); err != nil {
			return 1
		}
		fmt.Printf("%d\n", child.Process.Pid)
		for {
			line, err := in.ReadString('\n')
			if err != nil || line == "exit\n" {
				return 0
			}
		}
	case "sleeper":
		signal.Ignore(syscall.SIGTERM)
		time.Sleep(time.Hour)
	default:
		fmt.Fprintf(os.Stderr, "unknown fake helper %q\n", name)
		return 2
	}
	return 0
}
