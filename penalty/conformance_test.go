package penalty_test

import (
	"testing"

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
