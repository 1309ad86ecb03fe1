package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authpool/authpool/bench"
)

// The exit status says which check failed: thresholds have their own, and
// a wrong answer outranks them.
func TestBenchThresholdExitCodes(t *testing.T) {
	creds := scripts(t, "demo-credentials.txt")
	base := []string{"--credentials", creds, "--requests", "300", "--warmup", "0", "--spawn-samples", "0", "--progress", "none", "--processes", "1"}
	tests := []struct {
		name       string
		thresholds []string
		helper     []string
		want       int
		stderr     string
	}{
		{"all met", []string{"wrong=0", "errors<0.1%", "p99<1h", "throughput>0"}, []string{scripts(t, "sample.py")}, 0, ""},
		{"one missed", []string{"wrong=0", "throughput>1e12"}, []string{scripts(t, "sample.py")}, 3, "threshold throughput>1e12 not met"},
		{"wrong answers outrank it", []string{"throughput>1e12"}, []string{scripts(t, "sample.py")}, 1, "wrong answers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string(nil), base...)
			for _, th := range tt.thresholds {
				args = append(args, "--threshold", th)
			}
			if tt.want == 1 {
				// A workload that expects alice's right password refused:
				// every answer to it is a false accept.
				wrong := filepath.Join(t.TempDir(), "wrong.txt")
				writeBenchFile(t, wrong, "auth:alice:example.com:wonderland 0\n")
				args[1] = wrong
			}
			args = append(append(args, "--"), tt.helper...)
			code, stdout, stderr := runBench(t, args...)
			if code != tt.want || !strings.Contains(stderr, tt.stderr) {
				t.Fatalf("exit %d, want %d with %q\n%s\n%s", code, tt.want, tt.stderr, stdout, stderr)
			}
			if tt.want != 1 && !strings.Contains(stdout, "threshold   ") {
				t.Errorf("the report does not show the thresholds:\n%s", stdout)
			}
		})
	}
	code, _, stderr := runBench(t, "--threshold", "p99<fast", "--socket", "x")
	if code != 2 || !strings.Contains(stderr, "bad threshold") {
		t.Errorf("a bad threshold: exit %d, %q", code, stderr)
	}
}

// A run recorded, reported again, charted and compared from the command
// line, with a generated mix whose passwords the helper reads from the
// users file bench writes; no password reaches the record.
func TestBenchRecordReportCompare(t *testing.T) {
	dir := t.TempDir()
	users := filepath.Join(dir, "users.txt")
	run := func(label, rec string, extra ...string) *bench.Report {
		args := append([]string{"--mix", "valid=60,invalid=30,unknown=10", "--users", "200", "--users-file", users, "--seed", "5",
			"--repeat", "0.5", "--rate", "500:3000:1s", "--warmup", "0", "--spawn-samples", "0", "--progress", "none", "--json",
			"--processes", "2", "--label", label, "--record", filepath.Join(dir, rec), "--hgrm", filepath.Join(dir, label+".hgrm"),
			"--html", filepath.Join(dir, label+".html")}, extra...)
		args = append(args, "--", scripts(t, "sample.py"), users)
		code, stdout, stderr := runBench(t, args...)
		if code != 0 {
			t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
		}
		r := benchJSON(t, stdout)
		if r.Checked != r.Requests || r.Wrong != 0 || r.Yes == 0 || r.No == 0 || r.BreakingPoint == nil || r.Load.Shape != "500:3000:1s" {
			t.Fatalf("%+v", r)
		}
		return r
	}
	a := run("a", "a.jsonl")
	b := run("b", "b.jsonl", "--concurrency", "4")

	// No password of the users file is in the record.
	uf, err := os.Open(users)
	if err != nil {
		t.Fatal(err)
	}
	known, err := bench.ReadUsers(uf, users)
	uf.Close()
	if err != nil {
		t.Fatal(err)
	}
	record, err := os.ReadFile(filepath.Join(dir, "a.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range known {
		if strings.Contains(string(record), u.Password) {
			t.Fatalf("the record holds %s's password", u.Name)
		}
	}
	if !strings.Contains(string(record), `"user":"bench-000`) {
		t.Error("the record names no user")
	}

	// Reported again: the same numbers, as text, JSON and charts.
	code, stdout, stderr := runBench(t, "report", filepath.Join(dir, "a.jsonl"), "--json", "--html", filepath.Join(dir, "again.html"), "--hgrm", filepath.Join(dir, "again.hgrm"))
	if code != 0 {
		t.Fatalf("report: exit %d\n%s", code, stderr)
	}
	again := benchJSON(t, stdout)
	if again.Requests != a.Requests || again.Latency != a.Latency || again.Outcomes != a.Outcomes || again.Label != "a" {
		t.Errorf("reported again: %d requests %+v %+v; live %d %+v %+v", again.Requests, again.Latency, again.Outcomes, a.Requests, a.Latency, a.Outcomes)
	}
	for _, f := range []string{"a.hgrm", "a.html", "again.html", "again.hgrm"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	hg, _ := os.ReadFile(filepath.Join(dir, "again.hgrm"))
	live, _ := os.ReadFile(filepath.Join(dir, "a.hgrm"))
	if string(hg) != string(live) {
		t.Error("the distribution reported again differs from the live one")
	}
	code, stdout, _ = runBench(t, "report", filepath.Join(dir, "a.jsonl"), filepath.Join(dir, "b.jsonl"), "--threshold", "wrong=0")
	if code != 0 || !strings.Contains(stdout, "label       a") || !strings.Contains(stdout, "label       b") || !strings.Contains(stdout, "breaking    ") {
		t.Errorf("two runs: exit %d\n%s", code, stdout)
	}
	code, _, stderr = runBench(t, "report", filepath.Join(dir, "a.jsonl"), "--threshold", "throughput>1e12")
	if code != 3 || !strings.Contains(stderr, "not met") {
		t.Errorf("report with a threshold missed: exit %d %q", code, stderr)
	}

	// Compared, as records, and as a JSON report against a record.
	jsonA := filepath.Join(dir, "a.json")
	aj, _ := json.Marshal(a)
	os.WriteFile(jsonA, aj, 0o600)
	for _, sideA := range []string{filepath.Join(dir, "a.jsonl"), jsonA} {
		code, stdout, stderr = runBench(t, "compare", sideA, filepath.Join(dir, "b.jsonl"))
		if code != 0 {
			t.Fatalf("compare: exit %d\n%s", code, stderr)
		}
		sc := bufio.NewScanner(strings.NewReader(stdout))
		rows := map[string]string{}
		for sc.Scan() {
			if f := strings.Fields(sc.Text()); len(f) > 0 {
				rows[f[0]] = sc.Text()
			}
		}
		for _, m := range []string{"throughput", "p50", "p99", "p99.9", "errors", "wrong"} {
			if rows[m] == "" {
				t.Errorf("compare has no %s row:\n%s", m, stdout)
			}
		}
		if !strings.Contains(rows["throughput"], "spread") {
			t.Errorf("no verdict on the spread: %q", rows["throughput"])
		}
	}
	_ = b
	code, stdout, _ = runBench(t, "compare", "--json", filepath.Join(dir, "a.jsonl")+","+jsonA, filepath.Join(dir, "b.jsonl"))
	var c bench.Comparison
	if code != 0 || json.Unmarshal([]byte(stdout), &c) != nil || len(c.Rows) == 0 {
		t.Errorf("compare --json with two reports a side: exit %d\n%s", code, stdout)
	}
}

func TestBenchReportUsage(t *testing.T) {
	dir := t.TempDir()
	notRecord := filepath.Join(dir, "x")
	os.WriteFile(notRecord, []byte("hello\n"), 0o600)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"report"}, "no record given"},
		{[]string{"report", "--merge", "--separate", notRecord}, "not both"},
		{[]string{"report", notRecord}, "not an authpool bench record"},
		{[]string{"report", "/nonexistent"}, "no such file"},
		{[]string{"report", "--break-errors", "lots", notRecord}, "percentage"},
		{[]string{"compare", notRecord}, "want two runs"},
		{[]string{"compare", notRecord, notRecord}, "neither a record nor a JSON report"},
		{[]string{"--rate", "1:2", "--socket", "x"}, "wrong number of fields"},
		{[]string{"--mix", "valid=1", "--socket", "x"}, "known users"},
		{[]string{"--mix", "valid=1", "--credentials", "x", "--socket", "x"}, "not both"},
		{[]string{"--repeat", "0.5", "--socket", "x"}, "need --mix"},
		{[]string{"--record", "/nonexistent/dir/r.jsonl", "--socket", "x"}, "no such file"},
	}
	for _, tt := range tests {
		code, _, stderr := runBench(t, tt.args...)
		if code != 2 || !strings.Contains(stderr, tt.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", tt.args, code, stderr, tt.want)
		}
	}
}
