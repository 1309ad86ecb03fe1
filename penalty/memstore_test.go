package penalty

import (
	"context"
	"encoding/binary"
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

func BenchmarkMemoryStoreFail(b *testing.B) {
	s := newStore(b, MemoryConfig{})
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		s.Fail(ctx, keyN(i), markN(i))
	}
}
