package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/authpool/authpool/framing"
	"github.com/authpool/authpool/result"
)

// usersTarget answers for known users; it fails every request about
// failUser and gets wrongUser's answers wrong.
type usersTarget struct {
	users     map[string]string
	failUser  string
	wrongUser string
}

func newUsersTarget(users []User) *usersTarget {
	t := &usersTarget{users: map[string]string{}}
	for _, u := range users {
		t.users[u.Name+"@"+u.Server] = u.Password
	}
	return t
}

func (t *usersTarget) Do(_ context.Context, _ int, req framing.Request) (bool, error) {
	if req.User == t.failUser {
		return false, result.ErrOverloaded
	}
	pw, ok := t.users[req.User+"@"+req.Server]
	yes := ok && (req.Op == framing.OpIsUser || req.Password == pw)
	if req.User == t.wrongUser {
		yes = !yes
	}
	return yes, nil
}

func (t *usersTarget) Close() error { return nil }

// recordedRun runs a mix against a usersTarget with a record, and returns
// the live report, the record's path and the workload.
func recordedRun(t *testing.T, label string) (*Report, string, *Workload) {
	t.Helper()
	users := GenerateUsers(50, 1)
	wl, err := GenerateMix(MixConfig{Mix: Mix{Valid: 60, Invalid: 30, Unknown: 10}, Known: users, Absent: 50, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	target := newUsersTarget(users)
	target.failUser, target.wrongUser = users[3].Name, users[4].Name
	path := filepath.Join(t.TempDir(), "run.jsonl")
	f, err := CreateOutput(path, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	rw := NewRecordWriter(f)
	rep, err := Run(context.Background(), Config{
		Target: target, Workload: wl, Concurrency: 4, Rate: 4000, Duration: 500 * time.Millisecond,
		Warmup: 50 * time.Millisecond, Record: rw, Label: label, Kind: "fake", Description: "a fake target",
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := rw.Finish(rep); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return rep, path, wl
}

// A record reported again gives the live report's numbers: the same
// counts, the same latency histogram, the same timeline.
func TestRecordRoundTrip(t *testing.T) {
	live, path, wl := recordedRun(t, "first")
	if live.Errors == 0 || live.Wrong == 0 || live.Requests < 1000 {
		t.Fatalf("the run should have errors and wrong answers: %+v", live.Outcomes)
	}
	reps, err := ReadRecords([]string{path}, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(reps) != 1 {
		t.Fatalf("%d runs, want 1", len(reps))
	}
	got := reps[0]
	type nums struct {
		Requests, Yes, No, Checked, Wrong, FalseAccepts, FalseRejects, Errors int64
		WarmupRequests, WarmupErrors, WarmupWrong                             int64
		Outcomes                                                              Outcomes
		Latency                                                               Latency
		ErrorKinds                                                            map[string]int64
		Label, Target, Description                                            string
	}
	pick := func(r *Report) nums {
		return nums{r.Requests, r.Yes, r.No, r.Checked, r.Wrong, r.FalseAccepts, r.FalseRejects, r.Errors,
			r.WarmupRequests, r.WarmupErrors, r.WarmupWrong, r.Outcomes, r.Latency, r.ErrorKinds, r.Label, r.Target, r.Description}
	}
	if a, b := pick(live), pick(got); !reflect.DeepEqual(a, b) {
		t.Errorf("read back:\n%+v\nlive:\n%+v", b, a)
	}
	if d := got.Throughput/live.Throughput - 1; d > 1e-6 || d < -1e-6 {
		t.Errorf("throughput %v, live %v", got.Throughput, live.Throughput)
	}
	for _, f := range []struct {
		name       string
		live, read any
	}{
		{"distribution", live.Distribution, got.Distribution},
		{"timeline", live.Timeline, got.Timeline},
		{"rounds", live.Rounds, got.Rounds},
		{"breaking point", live.BreakingPoint, got.BreakingPoint},
	} {
		if !reflect.DeepEqual(f.live, f.read) {
			t.Errorf("%s differs:\nlive %+v\nread %+v", f.name, f.live, f.read)
		}
	}
	if live.Timeline == nil || len(live.Rounds) < 2 || live.BreakingPoint == nil {
		t.Errorf("timeline %v, %d rounds, breaking point %v: want all", live.Timeline != nil, len(live.Rounds), live.BreakingPoint)
	}
	if len(got.WrongExamples) == 0 || len(got.Helpers) != len(live.Helpers) {
		t.Errorf("examples %q, helpers %d", got.WrongExamples, len(got.Helpers))
	}

	// The record names users, and never holds a password.
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"user":"bench-000003"`)) {
		t.Error("the record does not name the users")
	}
	for _, it := range wl.Items {
		if it.Req.Password != "" && bytes.Contains(b, []byte(it.Req.Password)) {
			t.Fatalf("the record holds the password of %s", it.Req)
		}
		if it.Req.Password != "" {
			q, _ := json.Marshal(it.Req.Password)
			if bytes.Contains(b, q[1:len(q)-1]) {
				t.Fatalf("the record holds the JSON-escaped password of %s", it.Req)
			}
		}
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("record mode %v, want 0600", st.Mode())
	}
}

// Records of one run made from several machines at once merge into one
// run; records of different runs (other labels, or apart in time) do not.
func TestRecordMerge(t *testing.T) {
	a, pa, _ := recordedRun(t, "same")
	_, pb, _ := recordedRun(t, "other")
	// A second machine's record of run a: the same lines, moved 100ms.
	pc := filepath.Join(t.TempDir(), "machine2.jsonl")
	b, err := os.ReadFile(pa)
	if err != nil {
		t.Fatal(err)
	}
	first, rest, _ := bytes.Cut(b, []byte("\n"))
	var h recordHeader
	if err := json.Unmarshal(first, &h); err != nil {
		t.Fatal(err)
	}
	h.Start = h.Start.Add(100 * time.Millisecond)
	nh, _ := json.Marshal(h)
	if err := os.WriteFile(pc, append(append(nh, '\n'), rest...), 0o600); err != nil {
		t.Fatal(err)
	}

	reps, err := ReadRecords([]string{pb, pc, pa}, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(reps) != 2 {
		t.Fatalf("%d runs, want 2 (the two machines of run a merged, run b apart)", len(reps))
	}
	m := reps[0]
	if m.Label != "same" {
		m = reps[1]
	}
	if m.Requests != 2*a.Requests || m.Yes != 2*a.Yes || len(m.Sources) != 2 || m.Load.Concurrency != 2*a.Load.Concurrency {
		t.Errorf("merged: %d requests, %d yes, sources %q, concurrency %d; want twice %d, %d",
			m.Requests, m.Yes, m.Sources, m.Load.Concurrency, a.Requests, a.Yes)
	}
	if m.Latency.Max != a.Latency.Max || m.Latency.P50 != a.Latency.P50 {
		t.Errorf("merged latency %+v, want %+v (the same requests twice)", m.Latency, a.Latency)
	}
	if reps, err := ReadRecords([]string{pa, pc}, ReadOptions{Separate: true}); err != nil || len(reps) != 2 {
		t.Errorf("--separate: %d runs, %v", len(reps), err)
	}
	if reps, err := ReadRecords([]string{pa, pb}, ReadOptions{Merge: true}); err != nil || len(reps) != 1 {
		t.Errorf("--merge: %d runs, %v", len(reps), err)
	}
}

// A damaged or hostile record is refused with the line that is wrong,
// whatever it claims.
func TestReadRecordRefusesBadFiles(t *testing.T) {
	header := `{"authpool_bench_record":1,"start":"2026-01-01T00:00:00Z","target":"x","load":{"mode":"closed"}}` + "\n"
	tests := []struct {
		name, content, want string
	}{
		{"empty", "", "not an authpool bench record"},
		{"a JSON report", `{"target":"pool","requests":3}` + "\n", "not an authpool bench record"},
		{"other version", `{"authpool_bench_record":2}` + "\n", "not an authpool bench record"},
		{"garbage line", header + "{nope\n", ":2: not JSON"},
		{"unknown outcome", header + `{"n":1,"t":1,"lat":1,"outcome":"great"}` + "\n", ":2: unknown outcome"},
		{"time far away", header + `{"n":1,"t":9000000000000000000,"lat":1,"outcome":"ok"}` + "\n", ":2: time or latency out of range"},
		{"negative latency", header + `{"n":1,"t":1,"lat":-5,"outcome":"ok"}` + "\n", ":2: time or latency out of range"},
		{"huge line", header + `{"user":"` + strings.Repeat("a", maxRecordLine) + `"}` + "\n", ":2: a line over"},
		{"no requests", header, "no measured phase"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "bad.jsonl")
			if err := os.WriteFile(p, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := ReadRecords([]string{p}, ReadOptions{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

// An output file planted by another user (in a shared /tmp, say) is
// refused untouched, and one of ours that others could read is narrowed.
func TestCreateOutput(t *testing.T) {
	dir := t.TempDir()
	ours := filepath.Join(dir, "ours")
	if err := os.WriteFile(ours, []byte("old"), 0o666); err != nil {
		t.Fatal(err)
	}
	os.Chmod(ours, 0o666)
	f, err := CreateOutput(ours, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if st, _ := os.Stat(ours); st.Mode().Perm() != 0o600 || st.Size() != 0 {
		t.Errorf("mode %v size %d, want 0600 and truncated", st.Mode().Perm(), st.Size())
	}
	if os.Geteuid() != 0 {
		t.Skip("planting another user's file takes root")
	}
	theirs := filepath.Join(dir, "theirs")
	if err := os.WriteFile(theirs, []byte("theirs"), 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(theirs, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if _, err := CreateOutput(theirs, 0o600); !errors.Is(err, ErrNotOwned) {
		t.Errorf("error %v, want ErrNotOwned", err)
	}
	if b, _ := os.ReadFile(theirs); string(b) != "theirs" {
		t.Errorf("their file now holds %q", b)
	}
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"", "alice", `a"b\c`, "tab\there", "\x00\x1f", "<script>&", "pässwörd€", "bad\xffutf8", "\u2028\u2029", "😀"} {
		want, _ := json.Marshal(s)
		if got := appendJSONString(nil, s); string(got) != string(want) {
			t.Errorf("%q: got %s, want %s", s, got, want)
		}
	}
}
