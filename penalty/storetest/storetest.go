// Package storetest is the conformance suite of penalty.Store: every
// store, the daemon's MemoryStore and the Redis store shared by several
// daemons, passes the same tests, so a Guard behaves the same in front of
// either.
//
// The suite controls time: it hands the store a clock of its own (Now), and
// the store must count windows and ages by it. A store whose real clock is
// elsewhere (Redis's TIME) takes its time from Now when Now is set, which
// makes every age exact and the suite free of sleeps and of timing flakes;
// such a store tests its real clock separately.
package storetest

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/authpool/authpool/penalty"
)

// Options is what the suite asks of a store it makes.
type Options struct {
	// Window is the store's window: how long a key is remembered after its
	// last failure.
	Window time.Duration
	// Now is the store's clock. The suite moves it by whole milliseconds.
	Now func() time.Time
}

// NewStore makes a fresh, empty store with opts, owned by t (closed, if it
// needs closing, by t.Cleanup). Stores that share state across instances
// (one Redis) must make each new one see none of the others' keys.
type NewStore func(t *testing.T, opts Options) penalty.Store

// Run runs the suite against stores made by newStore.
func Run(t *testing.T, newStore NewStore) {
	tests := []struct {
		name string
		f    func(*testing.T, NewStore)
	}{
		{"Empty", testEmpty},
		{"FailRaises", testFailRaises},
		{"Marks", testMarks},
		{"RepeatRenews", testRepeatRenews},
		{"Window", testWindow},
		{"Clear", testClear},
		{"KeysApart", testKeysApart},
		{"ConcurrentDistinct", testConcurrentDistinct},
		{"ConcurrentSame", testConcurrentSame},
		{"Model", testModel},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.f(t, newStore) })
	}
}

// Clock is a clock that moves when told; safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock at a fixed time.
func NewClock() *Clock { return &Clock{t: time.Unix(1_700_000_000, 0)} }

// Now tells the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Add moves the clock by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// KeyN and MarkN make distinct keys and marks from numbers.
func KeyN(n int) (k penalty.Key) {
	binary.BigEndian.PutUint64(k[:], uint64(n))
	k[15] = 0xa5 // no key is all zeros, in case a store treats it specially
	return k
}

// MarkN is mark number n.
func MarkN(n int) (m penalty.Mark) { binary.BigEndian.PutUint64(m[:], uint64(n)); return m }

const window = time.Minute

// fixture is a store with a clock of the test's.
type fixture struct {
	t     *testing.T
	s     penalty.Store
	clock *Clock
}

func newFixture(t *testing.T, newStore NewStore) *fixture {
	c := NewClock()
	return &fixture{t: t, s: newStore(t, Options{Window: window, Now: c.Now}), clock: c}
}

func (f *fixture) get(k penalty.Key) penalty.State {
	f.t.Helper()
	st, err := f.s.Get(context.Background(), k)
	if err != nil {
		f.t.Fatalf("Get: %v", err)
	}
	return st
}

func (f *fixture) fail(k penalty.Key, m penalty.Mark) bool {
	f.t.Helper()
	raised, err := f.s.Fail(context.Background(), k, m)
	if err != nil {
		f.t.Fatalf("Fail: %v", err)
	}
	return raised
}

func (f *fixture) clear(k penalty.Key) {
	f.t.Helper()
	if err := f.s.Clear(context.Background(), k); err != nil {
		f.t.Fatalf("Clear: %v", err)
	}
}

func testEmpty(t *testing.T, newStore NewStore) {
	f := newFixture(t, newStore)
	if st := f.get(KeyN(1)); st != (penalty.State{}) {
		t.Errorf("a key never failed: %+v, want the zero State", st)
	}
	f.clear(KeyN(1)) // clearing what is not there is no error
}

// Each distinct mark raises the count; the age is counted from the last
// failure, by the store's clock.
func testFailRaises(t *testing.T, newStore NewStore) {
	f := newFixture(t, newStore)
	k := KeyN(1)
	for i := 1; i <= 3; i++ {
		if !f.fail(k, MarkN(i)) {
			t.Errorf("failure %d with a new mark did not raise", i)
		}
		f.clock.Add(time.Second)
	}
	if st := f.get(k); st != (penalty.State{Failures: 3, Since: time.Second}) {
		t.Errorf("after three failures a second apart: %+v, want 3 failures 1s ago", st)
	}
	f.clock.Add(1500 * time.Millisecond)
	if st := f.get(k); st.Since != 2500*time.Millisecond {
		t.Errorf("age %v, want 2.5s", st.Since)
	}
}

// The last MaxMarks marks are remembered; a mark among them does not
// raise the count.
func testMarks(t *testing.T, newStore NewStore) {
	if penalty.MaxMarks != 4 {
		t.Fatalf("the steps below assume MaxMarks 4, not %d", penalty.MaxMarks)
	}
	f := newFixture(t, newStore)
	k := KeyN(1)
	steps := []struct {
		mark   int
		raised bool
	}{
		{1, true}, {2, true}, {3, true}, {4, true},
		{1, false}, {4, false}, // among the last four
		{5, true},  // drops 1
		{1, true},  // so 1 counts again, and drops 2
		{3, false}, // 3, 4, 5, 1 remain
		{2, true},
	}
	for i, st := range steps {
		if raised := f.fail(k, MarkN(st.mark)); raised != st.raised {
			t.Errorf("step %d: mark %d raised = %v, want %v", i, st.mark, raised, st.raised)
		}
	}
	if st := f.get(k); st.Failures != 7 {
		t.Errorf("failures %d, want 7", st.Failures)
	}
}

// A repeated mark renews the last failure: the window starts again.
func testRepeatRenews(t *testing.T, newStore NewStore) {
	f := newFixture(t, newStore)
	k := KeyN(1)
	f.fail(k, MarkN(1))
	f.clock.Add(window - time.Second)
	if f.fail(k, MarkN(1)) {
		t.Error("the same mark raised the count")
	}
	if st := f.get(k); st != (penalty.State{Failures: 1}) {
		t.Errorf("right after a repeat: %+v, want 1 failure, age 0", st)
	}
	f.clock.Add(window - time.Millisecond)
	if st := f.get(k); st.Failures != 1 {
		t.Errorf("a window less 1ms after the repeat: %+v, want still remembered", st)
	}
}

// A key is forgotten a window after its last failure, marks and all.
func testWindow(t *testing.T, newStore NewStore) {
	f := newFixture(t, newStore)
	k := KeyN(1)
	f.fail(k, MarkN(1))
	f.fail(k, MarkN(2))
	f.clock.Add(window - time.Millisecond)
	if st := f.get(k); st != (penalty.State{Failures: 2, Since: window - time.Millisecond}) {
		t.Errorf("1ms before the window: %+v", st)
	}
	f.clock.Add(time.Millisecond)
	if st := f.get(k); st != (penalty.State{}) {
		t.Errorf("a window after the last failure: %+v, want forgotten", st)
	}
	if !f.fail(k, MarkN(1)) {
		t.Error("a mark from before the window was still remembered")
	}
	if st := f.get(k); st.Failures != 1 {
		t.Errorf("a failure after the window: %+v, want the count started afresh", st)
	}
	// Forgotten also when the next call is a Fail, not a Get.
	f.clock.Add(window)
	f.fail(k, MarkN(3))
	if st := f.get(k); st.Failures != 1 {
		t.Errorf("a failure a window after the last: %+v, want the count started afresh", st)
	}
}

func testClear(t *testing.T, newStore NewStore) {
	f := newFixture(t, newStore)
	k := KeyN(1)
	f.fail(k, MarkN(1))
	f.fail(k, MarkN(2))
	f.clear(k)
	if st := f.get(k); st != (penalty.State{}) {
		t.Errorf("after Clear: %+v", st)
	}
	if !f.fail(k, MarkN(1)) {
		t.Error("a mark remembered across Clear")
	}
}

func testKeysApart(t *testing.T, newStore NewStore) {
	f := newFixture(t, newStore)
	f.fail(KeyN(1), MarkN(1))
	f.fail(KeyN(1), MarkN(2))
	if !f.fail(KeyN(2), MarkN(1)) {
		t.Error("a mark of one key counted as a repeat on another")
	}
	f.clear(KeyN(2))
	if st := f.get(KeyN(1)); st.Failures != 2 {
		t.Errorf("key 1 after key 2's failure and clear: %+v", st)
	}
	if st := f.get(KeyN(3)); st != (penalty.State{}) {
		t.Errorf("an untouched key: %+v", st)
	}
}

// Each call is atomic for its key: concurrent failures with distinct marks
// all count.
func testConcurrentDistinct(t *testing.T, newStore NewStore) {
	f := newFixture(t, newStore)
	const n = 32
	if raised := f.concurrentFails(n, MarkN); raised != n || f.get(KeyN(1)).Failures != n {
		t.Errorf("%d concurrent distinct failures: count %d, %d raised", n, f.get(KeyN(1)).Failures, raised)
	}
}

// Concurrent failures with one mark raise the count once.
func testConcurrentSame(t *testing.T, newStore NewStore) {
	f := newFixture(t, newStore)
	const n = 32
	same := func(int) penalty.Mark { return MarkN(7) }
	if raised := f.concurrentFails(n, same); raised != 1 || f.get(KeyN(1)).Failures != 1 {
		t.Errorf("%d concurrent failures with one mark: count %d, %d raised; want 1 and 1", n, f.get(KeyN(1)).Failures, raised)
	}
}

// concurrentFails runs n failures of key 1 at once, the i-th with mark(i),
// and says how many raised the count.
func (f *fixture) concurrentFails(n int, mark func(int) penalty.Mark) int {
	var wg sync.WaitGroup
	var mu sync.Mutex
	raised := 0
	for i := range n {
		wg.Go(func() {
			r, err := f.s.Fail(context.Background(), KeyN(1), mark(i))
			if err != nil {
				f.t.Errorf("Fail: %v", err)
			}
			if r {
				mu.Lock()
				raised++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return raised
}

// testModel runs random operations on a few keys against the Model of
// the contract (without the early forgetting a store may do to bound its
// size: the suite holds far fewer keys than any bound).
func testModel(t *testing.T, newStore NewStore) {
	f := newFixture(t, newStore)
	RunModel(t, f.s, f.clock, &Model{Window: window}, 6, 2000)
}

// Model is penalty.Store's contract as plain Go, to check a store against
// operation by operation. Past MaxKeys (when not zero) it forgets the key
// whose last failure is oldest, as a store may.
type Model struct {
	Window  time.Duration
	MaxKeys int

	keys map[penalty.Key]*modelKey
	seq  int
}

type modelKey struct {
	failures int
	last     time.Time
	seq      int // order of last failures
	marks    []penalty.Mark
}

func (m *Model) expire(now time.Time) {
	for k, r := range m.keys {
		if now.Sub(r.last) >= m.Window {
			delete(m.keys, k)
		}
	}
}

// Fail is what Store.Fail must report.
func (m *Model) Fail(now time.Time, k penalty.Key, mark penalty.Mark) bool {
	if m.keys == nil {
		m.keys = map[penalty.Key]*modelKey{}
	}
	m.expire(now)
	r := m.keys[k]
	if r == nil {
		if m.MaxKeys > 0 && len(m.keys) >= m.MaxKeys {
			var oldest penalty.Key
			for k2, r2 := range m.keys {
				if m.keys[oldest] == nil || r2.seq < m.keys[oldest].seq {
					oldest = k2
				}
			}
			delete(m.keys, oldest)
		}
		r = &modelKey{}
		m.keys[k] = r
	}
	m.seq++
	r.last, r.seq = now, m.seq
	for _, m2 := range r.marks {
		if m2 == mark {
			return false
		}
	}
	r.failures++
	r.marks = append(r.marks, mark)
	if len(r.marks) > penalty.MaxMarks {
		r.marks = r.marks[1:]
	}
	return true
}

// Get is what Store.Get must report.
func (m *Model) Get(now time.Time, k penalty.Key) penalty.State {
	m.expire(now)
	if r := m.keys[k]; r != nil {
		return penalty.State{Failures: r.failures, Since: now.Sub(r.last)}
	}
	return penalty.State{}
}

// Clear is Store.Clear.
func (m *Model) Clear(k penalty.Key) { delete(m.keys, k) }

// RunModel runs steps random operations on nkeys keys, on s and on m
// alike, moving clock between them, and fails t at the first answer of
// s's that m does not give.
func RunModel(t *testing.T, s penalty.Store, clock *Clock, m *Model, nkeys, steps int) {
	t.Helper()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	for step := range steps {
		k := KeyN(rng.IntN(nkeys))
		switch op := rng.IntN(10); {
		case op < 5:
			mark := MarkN(rng.IntN(6))
			want := m.Fail(clock.Now(), k, mark)
			if raised, err := s.Fail(ctx, k, mark); raised != want || err != nil {
				t.Fatalf("step %d: Fail raised %v, %v; model %v", step, raised, err, want)
			}
		case op < 6:
			m.Clear(k)
			if err := s.Clear(ctx, k); err != nil {
				t.Fatalf("step %d: Clear: %v", step, err)
			}
		case op < 8:
			want := m.Get(clock.Now(), k)
			if got, err := s.Get(ctx, k); got != want || err != nil {
				t.Fatalf("step %d: Get = %+v, %v; model %+v", step, got, err, want)
			}
		default:
			clock.Add(time.Duration(rng.IntN(int(m.Window/time.Millisecond/3))) * time.Millisecond)
		}
	}
}
