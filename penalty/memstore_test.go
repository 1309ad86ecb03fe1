package penalty

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"time"
)

// fakeClock is a clock that moves when told.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time      { return c.t }
func (c *fakeClock) add(d time.Duration) { c.t = c.t.Add(d) }
func newFakeClock() *fakeClock           { return &fakeClock{t: time.Unix(1_700_000_000, 0)} }
func keyN(n int) (k Key)                 { binary.BigEndian.PutUint64(k[:], uint64(n)); return k }
func markN(n int) (m Mark)               { binary.BigEndian.PutUint64(m[:], uint64(n)); return m }
func newStore(t testing.TB, cfg MemoryConfig) *MemoryStore {
	t.Helper()
	s, err := NewMemoryStore(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestMemoryStoreWindow(t *testing.T) {
	ctx := context.Background()
	c := newFakeClock()
	s := newStore(t, MemoryConfig{Window: time.Minute, Now: c.now})
	k := keyN(1)
	s.Fail(ctx, k, markN(1))
	c.add(20 * time.Second)
	if st, _ := s.Get(ctx, k); st != (State{Failures: 1, Since: 20 * time.Second}) {
		t.Errorf("within the window: %+v", st)
	}
	// A repeat renews the last failure without raising.
	if raised, _ := s.Fail(ctx, k, markN(1)); raised {
		t.Error("the same mark raised the count")
	}
	c.add(59 * time.Second)
	if st, _ := s.Get(ctx, k); st.Failures != 1 {
		t.Errorf("59 s after a repeat: %+v, want still remembered", st)
	}
	c.add(time.Second)
	if st, _ := s.Get(ctx, k); st != (State{}) || s.Len() != 0 {
		t.Errorf("a window after the last failure: %+v, %d keys; want forgotten", st, s.Len())
	}
	// Forgotten means the marks too.
	if raised, _ := s.Fail(ctx, k, markN(1)); !raised {
		t.Error("a mark from before the window was still remembered")
	}
}

func TestMemoryStoreMarks(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, MemoryConfig{Now: newFakeClock().now})
	k := keyN(1)
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
		if raised, _ := s.Fail(ctx, k, markN(st.mark)); raised != st.raised {
			t.Errorf("step %d: mark %d raised = %v, want %v", i, st.mark, raised, st.raised)
		}
	}
	if st, _ := s.Get(ctx, k); st.Failures != 7 {
		t.Errorf("failures %d, want 7", st.Failures)
	}
}

// Past MaxKeys the key whose last failure is oldest goes.
func TestMemoryStoreMaxKeys(t *testing.T) {
	ctx := context.Background()
	c := newFakeClock()
	s := newStore(t, MemoryConfig{MaxKeys: 3, Now: c.now})
	for i := 1; i <= 3; i++ {
		s.Fail(ctx, keyN(i), markN(i))
		c.add(time.Second)
	}
	s.Fail(ctx, keyN(1), markN(9)) // 1 is now the newest
	s.Fail(ctx, keyN(4), markN(4)) // so 2 goes
	for i, want := range []int{1: 2, 2: 0, 3: 1, 4: 1} {
		if i == 0 {
			continue
		}
		if st, _ := s.Get(ctx, keyN(i)); st.Failures != want {
			t.Errorf("key %d: %d failures, want %d", i, st.Failures, want)
		}
	}
	if s.Len() != 3 {
		t.Errorf("Len %d, want 3", s.Len())
	}
}

// Expired keys leave even when nobody reads them again.
func TestMemoryStoreSweeps(t *testing.T) {
	ctx := context.Background()
	c := newFakeClock()
	s := newStore(t, MemoryConfig{Window: time.Minute, Now: c.now})
	for i := range 100 {
		s.Fail(ctx, keyN(i), markN(i))
	}
	c.add(time.Minute)
	for i := range 50 {
		s.Fail(ctx, keyN(1000+i), markN(i))
	}
	if s.Len() != 50 {
		t.Errorf("Len %d after 50 fresh failures past the window, want the 100 old keys gone", s.Len())
	}
}

// The store against a plain model, over random operations: the linked
// list, the free list and the index must agree with it at every step.
func TestMemoryStoreModel(t *testing.T) {
	ctx := context.Background()
	const maxKeys, window = 8, 10 * time.Second
	c := newFakeClock()
	s := newStore(t, MemoryConfig{MaxKeys: maxKeys, Window: window, Now: c.now})
	type rec struct {
		failures int
		last     time.Time
		seq      int
		marks    []Mark
	}
	model := map[Key]*rec{}
	seq := 0
	rng := rand.New(rand.NewPCG(1, 2))
	expire := func() {
		for k, r := range model {
			if c.t.Sub(r.last) >= window {
				delete(model, k)
			}
		}
	}
	for step := range 20000 {
		k := keyN(rng.IntN(12))
		switch op := rng.IntN(10); {
		case op < 6:
			m := markN(rng.IntN(6))
			expire()
			r := model[k]
			if r == nil {
				if len(model) >= maxKeys {
					var oldest Key
					for k2, r2 := range model {
						if model[oldest] == nil || r2.seq < model[oldest].seq {
							oldest = k2
						}
					}
					delete(model, oldest)
				}
				r = &rec{}
				model[k] = r
			}
			seq++
			r.last, r.seq = c.t, seq
			want := true
			for _, m2 := range r.marks {
				if m2 == m {
					want = false
				}
			}
			if want {
				r.failures++
				r.marks = append(r.marks, m)
				if len(r.marks) > MaxMarks {
					r.marks = r.marks[1:]
				}
			}
			if raised, _ := s.Fail(ctx, k, m); raised != want {
				t.Fatalf("step %d: Fail raised %v, model %v", step, raised, want)
			}
		case op < 7:
			delete(model, k)
			s.Clear(ctx, k)
		case op < 9:
			expire()
			var want State
			if r := model[k]; r != nil {
				want = State{Failures: r.failures, Since: c.t.Sub(r.last)}
			}
			if got, _ := s.Get(ctx, k); got != want {
				t.Fatalf("step %d: Get = %+v, model %+v", step, got, want)
			}
		default:
			c.add(time.Duration(rng.IntN(3000)) * time.Millisecond)
		}
		if s.Len() > maxKeys {
			t.Fatalf("step %d: %d keys, over the bound", step, s.Len())
		}
	}
}

func BenchmarkMemoryStoreFail(b *testing.B) {
	s := newStore(b, MemoryConfig{})
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		s.Fail(ctx, keyN(i), markN(i))
	}
}
