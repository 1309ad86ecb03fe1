package metrics

import (
	"strings"
	"testing"

	"github.com/authpool/authpool/cache"
)

// TestCacheMetrics: the cache's counters, for a cache of one process and
// for a shared one, which does not count its entries.
func TestCacheMetrics(t *testing.T) {
	for _, tt := range []struct {
		name    string
		st      cache.Stats
		entries string
	}{
		{"memory", cache.Stats{Hits: 1, Misses: 2, Entries: 3, Invalidations: 4}, "3"},
		{"shared", cache.Stats{Hits: 1, Misses: 2, Entries: -1, Invalidations: 4, StoreErrors: 5}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := New()
			m.WatchCache(func() cache.Stats { return tt.st })
			page := scrape(t, m)
			for series, want := range map[string]string{
				"authpool_cache_hits_total":          "1",
				"authpool_cache_misses_total":        "2",
				"authpool_cache_entries":             tt.entries,
				"authpool_cache_invalidations_total": "4",
				"authpool_cache_store_errors_total":  map[bool]string{true: "5", false: "0"}[tt.name == "shared"],
			} {
				if got := value(page, series); got != want {
					t.Errorf("%s = %q, want %q", series, got, want)
				}
			}
			if tt.entries == "" && strings.Contains(page, "authpool_cache_entries ") {
				t.Error("a shared cache's entries exported")
			}
		})
	}
}
