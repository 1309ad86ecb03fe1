package pool

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// The test binary doubles as the fake helpers, the way os/exec's tests
// re-execute themselves: with fakeEnv set, TestMain runs a helper instead of
// the tests.
const (
	fakeEnv      = "POOL_TEST_FAKE"     // which fake: "db", "crashloop", "banner"
	fakeProtoEnv = "POOL_TEST_PROTOCOL" // "ejabberd" for framed I/O
	fakeSHAEnv   = "POOL_TEST_SHA256"   // password hash the "echo" user accepts
	fakeTermEnv  = "POOL_TEST_IGNORE_TERM"
	// fakeGateEnv names a directory: the "gated" fake reads no request
	// until a file named "open" appears there (a start-up as slow as the
	// test wants, ended by an event rather than a clock).
	fakeGateEnv = "POOL_TEST_GATE"
)

func TestMain(m *testing.M) {
	if name := os.Getenv(fakeEnv); name != "" {
		os.Exit(runFake(name))
	}
	goleak.VerifyTestMain(m)
}

var fakeUsers = map[string]string{
	"alice@example.com": "wonderland",
	"carol@example.com": "a:b:c",
}

func runFake(name string) int {
	switch name {
	case "crashloop":
		return 1
	case "slowstart":
		// An interpreter starting on a loaded machine.
		time.Sleep(300 * time.Millisecond)
	case "gated":
		gate := filepath.Join(os.Getenv(fakeGateEnv), "open")
		for end := time.Now().Add(time.Minute); time.Now().Before(end); time.Sleep(2 * time.Millisecond) {
			if _, err := os.Stat(gate); err == nil {
				break
			}
		}
	case "banner":
		// Spontaneous output before any request: a "1" nobody asked for.
		os.Stdout.Write([]byte("1\n"))
	}
	if os.Getenv(fakeTermEnv) == "1" {
		signal.Ignore(syscall.SIGTERM)
	}
	framed := os.Getenv(fakeProtoEnv) == "ejabberd"
	in := bufio.NewReader(os.Stdin)
	out := os.Stdout
	answer := func(yes bool) []byte {
		b := byte(0)
		if yes {
			b = 1
		}
		if framed {
			return []byte{0, 2, 0, b}
		}
		return []byte{'0' + b, '\n'}
	}
	for {
		var line []byte
		if framed {
			var n uint16
			if binary.Read(in, binary.BigEndian, &n) != nil {
				return 0
			}
			line = make([]byte, n)
			if _, err := io.ReadFull(in, line); err != nil {
				return 0
			}
		} else {
			l, err := in.ReadBytes('\n')
			if err != nil {
				return 0
			}
			line = l[:len(l)-1]
		}
		f := strings.SplitN(string(line), ":", 4)
		if len(f) < 3 {
			out.Write(answer(false))
			continue
		}
		op, user, server := f[0], f[1], f[2]
		pass := ""
		if len(f) == 4 {
			pass = f[3]
		}
		want, known := fakeUsers[user+"@"+server]
		ok := known && (op == "isuser" || pass == want)
		switch user {
		case "crash":
			return 3
		case "kill9":
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
		case "hang":
			time.Sleep(time.Hour)
		case "slow":
			time.Sleep(150 * time.Millisecond)
			out.Write(answer(true))
		case "late":
			// Later than any test's Timeout plus StartTimeout.
			time.Sleep(10 * time.Second)
			out.Write(answer(true))
		case "garbage":
			out.Write([]byte("xyz\n"))
		case "double":
			out.Write(answer(false))
			time.Sleep(30 * time.Millisecond)
			out.Write(answer(true))
		case "double1":
			out.Write(append(answer(false), answer(true)...))
		case "split":
			for _, b := range answer(true) {
				out.Write([]byte{b})
				time.Sleep(5 * time.Millisecond)
			}
		case "crlf":
			out.Write([]byte("1\r\n"))
		case "announce":
			// Says on stderr that it has the request, then takes its
			// time: a caller can give up while it answers.
			fmt.Fprintln(os.Stderr, "asked")
			time.Sleep(time.Second)
			out.Write(answer(true))
		case "leaky":
			// Debug output no helper should write, and some do.
			fmt.Fprintf(os.Stderr, "checking %s with password %s\n", user, pass)
			out.Write(answer(false))
		case "noise":
			fmt.Fprintf(os.Stderr, "1\n0\n\x00\x02\x00\x01\n")
			out.Write(answer(true))
		case "gen":
			// Which settings started this helper.
			out.Write(answer(os.Getenv("POOL_TEST_GEN") == pass))
		case "echo":
			sum := sha256.Sum256([]byte(pass))
			out.Write(answer(hex.EncodeToString(sum[:]) == os.Getenv(fakeSHAEnv)))
		default:
			out.Write(answer(ok))
		}
	}
}
