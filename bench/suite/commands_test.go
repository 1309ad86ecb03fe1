package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authpool/authpool/bench"
)

// fakeAuthpool stands in for the binary: "serve" listens on its socket
// until SIGTERM; "bench" prints a report whose throughput goes 100, 300,
// 200, ... from one call to the next.
const fakeAuthpool = `#!/usr/bin/env python3
import json, os, signal, socket, sys
args = sys.argv[1:]
if args[0] == "serve":
    path = args[args.index("--socket") + 1]
    s = socket.socket(socket.AF_UNIX)
    s.bind(path)
    s.listen()
    def stop(*_):
        os.unlink(path)
        sys.exit(0)
    signal.signal(signal.SIGTERM, stop)
    while True:
        c, _ = s.accept()
        c.close()
counter = os.environ["FAKE_AUTHPOOL_COUNTER"]
n = int(open(counter).read()) if os.path.exists(counter) else 0
open(counter, "w").write(str(n + 1))
print(json.dumps({"target": "socket", "requests": 1, "throughput": [100, 300, 200][n % 3]}))
`

// BENCHMARKS.md gives each configuration's command once, as it was run:
// a daemon's run kept its best of several rounds but once had "serve ...
// &" prepended on every round, and the open-loop runs named --duration
// twice.
func TestCommandsOnce(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "authpool")
	if err := os.WriteFile(fake, []byte(fakeAuthpool), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FAKE_AUTHPOOL_COUNTER", filepath.Join(dir, "n"))
	s := &suite{
		o:       options{authpool: fake, credentials: "creds", duration: time.Second, warmup: time.Second, reps: 1, transports: []string{"pty"}},
		results: map[key]*result{}, lowest: map[key]float64{}, dir: dir,
	}
	h := helperSpec{"fake", "/bin/true"}
	k := key{"fake", "pty", 4, "daemon"}
	for range 3 {
		s.measureDaemon(k, h)
	}
	if len(s.notes) > 0 {
		t.Fatalf("notes: %q", s.notes)
	}
	r := s.results[k]
	if r == nil || r.rep.Throughput != 300 {
		t.Fatalf("kept %+v, want the best round (300/s)", r)
	}
	if n := strings.Count(r.cmd, " serve "); n != 1 || !strings.Contains(r.cmd, " &  "+fake+" bench ") {
		t.Errorf("command %q: want serve once, then bench", r.cmd)
	}

	bare := key{"fake", "pty", latencyN, "bare"}
	s.results[bare] = &result{rep: &bench.Report{Throughput: 1000}}
	s.lowest[bare] = 1000
	s.latency([]helperSpec{h})
	for _, kind := range []string{"bare open", "pool open"} {
		r := s.results[key{"fake", "pty", latencyN, kind}]
		if r == nil || strings.Count(r.cmd, "--duration") != 1 || !strings.Contains(r.cmd, "--duration 2s") {
			t.Errorf("%s: command %+v: want --duration once, 2s", kind, r)
		}
	}
}
