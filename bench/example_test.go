package bench_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/authpool/authpool/bench"
	"github.com/authpool/authpool/framing"
	"github.com/authpool/authpool/pool"
)

// credentials is a workload in the format of bench --credentials: one
// request a line, then the answer it must get.
const credentials = `# op:user:server[:password] EXPECTED
auth:alice:example.com:wonderland 1
auth:alice:example.com:Wonderland 0
isuser:alice:example.com 1
isuser:mallory:example.com 0
`

// foldingStore is a Target that answers from a map, as a helper backed by
// a user store would, with a bug to catch: it compares passwords without
// regard to case, so a password with the wrong case gets in.
type foldingStore map[string]string // user@server: password

func (s foldingStore) Do(_ context.Context, _ int, req framing.Request) (bool, error) {
	pw, known := s[req.User+"@"+req.Server]
	switch req.Op {
	case framing.OpAuth:
		return known && strings.EqualFold(pw, req.Password), nil
	case framing.OpIsUser:
		return known, nil
	}
	return false, fmt.Errorf("%v: not supported", req.Op)
}

func (foldingStore) Close() error { return nil }

// demoWorkload is the credentials above, for the examples that are not
// about making a workload.
func demoWorkload() *bench.Workload {
	w, err := bench.ParseCredentials(strings.NewReader(credentials), "credentials")
	if err != nil {
		log.Fatal(err)
	}
	return w
}

// Run checks every answer against the one the workload expects: a wrong
// answer is counted apart from a failed request, and a yes that should
// have been a no is a false accept, someone who got in.
func ExampleRun() {
	// A workload can also be generated (Generate, GenerateMix) or built
	// as a literal: its Items are exported.
	w, err := bench.ParseCredentials(strings.NewReader(credentials), "credentials")
	if err != nil {
		log.Fatal(err)
	}
	rep, err := bench.Run(context.Background(), bench.Config{
		Target:   foldingStore{"alice@example.com": "wonderland"},
		Workload: w,
		// One worker and a fixed number of requests: the run cycles
		// through the workload in order, so the counts below are the
		// same on every machine (the latencies are not).
		Concurrency: 1,
		Requests:    8,
	})
	if err != nil {
		log.Fatal(err)
	}

	fmt.Println("requests:", rep.Requests, "checked:", rep.Checked)
	fmt.Println("wrong:", rep.Wrong, "false accepts:", rep.FalseAccepts, "false rejects:", rep.FalseRejects)
	fmt.Println(rep.Outcomes)
	// The examples name the request, never its password.
	fmt.Println(rep.WrongExamples[0])
	// Output:
	// requests: 8 checked: 8
	// wrong: 2 false accepts: 2 false rejects: 0
	// ok 4, rejected 2, WRONG 2 (2 false accepts, 0 false rejects), timeout 0, unavailable 0, overloaded 0, connection 0, other 0
	// auth alice@example.com password=(redacted): answered yes, expected no
}

// Thresholds turn a report into a pass or a fail for CI (bench --threshold).
// They judge any report: one from Run, or one read back with ReadReports
// or ReadRecords. Counts may be given as numbers or as a share of the
// requests, latencies as durations.
func ExampleJudgeAll() {
	rep := &bench.Report{
		Requests: 1000,
		Yes:      600,
		No:       398,
		Errors:   2,
		Latency:  bench.Latency{P99: 4200}, // µs
		Outcomes: bench.Outcomes{OK: 600, Rejected: 398, Timeout: 2},
	}
	var ts []bench.Threshold
	for _, spec := range []string{"false_accepts=0", "errors<0.1%", "p99<5ms"} {
		t, err := bench.ParseThreshold(spec)
		if err != nil {
			log.Fatal(err)
		}
		ts = append(ts, t)
	}

	fmt.Println("all passed:", bench.JudgeAll(rep, ts))
	// The report keeps each threshold's verdict, for its text and JSON.
	for _, r := range rep.Thresholds {
		fmt.Printf("%-16s pass=%-5v %s\n", r.Spec, r.Pass, r.Got)
	}
	// Output:
	// all passed: false
	// false_accepts=0  pass=true  false_accepts 0
	// errors<0.1%      pass=false errors 2 of 1000, 0.20%
	// p99<5ms          pass=true  p99 4.20ms
}

// A record keeps every request of a run as a JSON line (users, never
// passwords), so the run can be reported again later, judged against other
// thresholds, or merged with the records of the same run made from other
// machines.
func ExampleReadRecords() {
	dir, err := os.MkdirTemp("", "bench-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "run.jsonl")

	// CreateOutput, not os.Create: it refuses a file planted by another
	// user, and keeps the record readable by its owner only.
	f, err := bench.CreateOutput(path, 0o600)
	if err != nil {
		log.Fatal(err)
	}
	rec := bench.NewRecordWriter(f)
	rep, err := bench.Run(context.Background(), bench.Config{
		Target:   foldingStore{"alice@example.com": "wonderland"},
		Workload: demoWorkload(),
		Requests: 8,
		Record:   rec, // every request, as it ends
	})
	if err != nil {
		log.Fatal(err)
	}
	// Finish writes the summary line; it returns the first write error.
	if err := rec.Finish(rep); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}

	b, err := os.ReadFile(path)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("names alice:", bytes.Contains(b, []byte(`"user":"alice"`)),
		"holds her password:", bytes.Contains(b, []byte("onderland")))

	reps, err := bench.ReadRecords([]string{path}, bench.ReadOptions{})
	if err != nil {
		log.Fatal(err)
	}
	again := reps[0]
	fmt.Println("runs:", len(reps))
	fmt.Println("requests:", again.Requests, "false accepts:", again.FalseAccepts)
	fmt.Println(again.Outcomes)
	// Output:
	// names alice: true holds her password: false
	// runs: 1
	// requests: 8 false accepts: 2
	// ok 4, rejected 2, WRONG 2 (2 false accepts, 0 false rejects), timeout 0, unavailable 0, overloaded 0, connection 0, other 0
}

// A PoolTarget loads an in-process pool: here two copies of the sample
// helper, asked about its built-in demo users. Run waits for the helpers
// to start before it measures (PoolTarget is a bench.Readier), and fills
// Report.Pool with what the pool did during the run.
func ExamplePoolTarget() {
	helper, err := filepath.Abs("../testscripts/sample.py")
	if err != nil {
		log.Fatal(err)
	}
	p, err := pool.New(pool.Config{Command: []string{helper}, Processes: 2, Timeout: 10 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	target := bench.PoolTarget{Pool: p}
	defer target.Close() // Run does not close its target

	rep, err := bench.Run(context.Background(), bench.Config{
		Target:      target,
		Workload:    demoWorkload(),
		Concurrency: 4,
		Requests:    40,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("requests:", rep.Requests, "errors:", rep.Errors, "wrong:", rep.Wrong)
	fmt.Println(rep.Outcomes)
	fmt.Println("helpers:", rep.Pool.Processes, "restarts:", rep.Pool.Restarts)
	// Output:
	// requests: 40 errors: 0 wrong: 0
	// ok 20, rejected 20, wrong 0, timeout 0, unavailable 0, overloaded 0, connection 0, other 0
	// helpers: 2 restarts: 0
}
