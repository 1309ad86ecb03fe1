package penalty_test

import (
	"context"
	"testing"
	"time"

	"github.com/authpool/authpool/penalty"
	"github.com/authpool/authpool/penalty/storetest"
)

// MemoryStore passes the suite every store passes.
func TestMemoryStoreConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, o storetest.Options) penalty.Store {
		s, err := penalty.NewMemoryStore(penalty.MemoryConfig{Window: o.Window, Now: o.Now})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// MemoryStore against the contract's model over random operations, with
// a table small enough to fill: its list, free list and index must agree
// with the model at every step, and the table stay within its bound.
func TestMemoryStoreModel(t *testing.T) {
	const maxKeys, window = 8, 10 * time.Second
	c := storetest.NewClock()
	s, err := penalty.NewMemoryStore(penalty.MemoryConfig{MaxKeys: maxKeys, Window: window, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	bounded := boundedStore{s, t, maxKeys}
	storetest.RunModel(t, bounded, c, &storetest.Model{Window: window, MaxKeys: maxKeys}, 12, 20000)
}

// boundedStore checks the store's size after every Fail.
type boundedStore struct {
	*penalty.MemoryStore
	t   *testing.T
	max int
}

func (b boundedStore) Fail(ctx context.Context, k penalty.Key, m penalty.Mark) (bool, error) {
	raised, err := b.MemoryStore.Fail(ctx, k, m)
	if n := b.Len(); n > b.max {
		b.t.Fatalf("%d keys, over the bound %d", n, b.max)
	}
	return raised, err
}
