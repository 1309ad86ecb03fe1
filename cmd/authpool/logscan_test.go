package main

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
)

// neverLogged are the passwords the package's tests send: no output of a
// daemon, bridge or in-process command may hold one. (User names, wrong
// ones included, may be logged; they are not here.) The built-in users of
// testscripts/ and demo-users.txt, secretMark (every password a test makes
// up contains it), and the chaos test's "pw-u<N>".
var neverLogged = []string{secretMark, "wonderland", "builder", "a:b:c", "pässwörd", "pw-u"}

// allLogs collects every output buffer the package's tests create through
// logBuffer, with the test that created it, for the scan in TestMain.
var allLogs struct {
	sync.Mutex
	logs []testLog
}

type testLog struct {
	test string
	buf  *syncBuffer
}

// logBuffer returns a buffer for the output of a daemon, bridge or command
// t starts. After every test of the package has run, TestMain scans it for
// the passwords in neverLogged and fails the run if one is there.
func logBuffer(t testing.TB) *syncBuffer {
	b := &syncBuffer{}
	allLogs.Lock()
	allLogs.logs = append(allLogs.logs, testLog{test: t.Name(), buf: b})
	allLogs.Unlock()
	return b
}

// passwordsIn returns one line for each password of secrets found in logs,
// naming the test whose output held it.
func passwordsIn(logs []testLog, secrets []string) []string {
	var found []string
	for _, l := range logs {
		out := l.buf.String()
		for _, secret := range secrets {
			if i := strings.Index(out, secret); i >= 0 {
				found = append(found, fmt.Sprintf("%s: password %q in its output: %q",
					l.test, secret, out[max(0, i-200):min(len(out), i+len(secret)+50)]))
			}
		}
	}
	return found
}

// scanAfter runs the tests, then the password scan over every buffer they
// registered: in TestMain, so that it sees the output of every test, which
// a test of its own, run in source order, could not.
type scanAfter struct{ m *testing.M }

func (s scanAfter) Run() int {
	code := s.m.Run()
	allLogs.Lock()
	defer allLogs.Unlock()
	if found := passwordsIn(allLogs.logs, neverLogged); len(found) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: a password in the output of a test (%d found in %d outputs scanned):\n", len(found), len(allLogs.logs))
		for _, f := range found {
			fmt.Fprintln(os.Stderr, "  "+f)
		}
		return 1
	}
	return code
}

// TestPasswordScan: the scan TestMain runs finds a password planted in a
// registered output, names the test, and passes clean output.
func TestPasswordScan(t *testing.T) {
	clean, dirty := &syncBuffer{}, &syncBuffer{}
	clean.Write([]byte(`level=INFO msg="auth refused" user=alice server=example.com`))
	dirty.Write([]byte(`level=DEBUG msg=request line="auth:alice:example.com:wonderland"`))
	found := passwordsIn([]testLog{{"TestClean", clean}, {"TestDirty", dirty}}, neverLogged)
	if len(found) != 1 || !strings.HasPrefix(found[0], "TestDirty: password \"wonderland\"") {
		t.Fatalf("scan found %q, want the one password in TestDirty", found)
	}
}
