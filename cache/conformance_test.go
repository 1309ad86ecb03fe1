package cache_test

import (
	"testing"

	"github.com/authpool/authpool/cache"
	"github.com/authpool/authpool/cache/cachetest"
	"github.com/authpool/authpool/penalty/storetest"
)

// The MemoryStore passes the suite every store passes; it is its own
// second instance (one process, one store).
func TestConformance(t *testing.T) {
	cachetest.Run(t, func(t *testing.T) cachetest.Fixture {
		clock := storetest.NewClock()
		s, err := cache.NewMemoryStore(cache.MemoryConfig{MaxEntries: 16, Now: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		return cachetest.Fixture{A: s, B: s, Advance: clock.Add, Bound: 16}
	})
}
