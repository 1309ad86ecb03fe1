package metrics

import "testing"

// TestRedisMetrics: each shared store's Redis counters are metrics
// labelled with the store, read at each scrape.
func TestRedisMetrics(t *testing.T) {
	m := New()
	st := RedisStats{InUse: true, Errors: 1, Fallbacks: 2, Recoveries: 3, ProbeErrors: 4}
	m.WatchRedis("penalty", func() RedisStats { return st })
	m.WatchRedis("cache", func() RedisStats { return RedisStats{} })
	page := scrape(t, m)
	for series, want := range map[string]string{
		`authpool_redis_in_use{store="penalty"}`:             "1",
		`authpool_redis_errors_total{store="penalty"}`:       "1",
		`authpool_redis_fallbacks_total{store="penalty"}`:    "2",
		`authpool_redis_recoveries_total{store="penalty"}`:   "3",
		`authpool_redis_probe_errors_total{store="penalty"}`: "4",
		`authpool_redis_in_use{store="cache"}`:               "0",
	} {
		if got := value(page, series); got != want {
			t.Errorf("%s = %q, want %s", series, got, want)
		}
	}
	st.InUse = false
	if got := value(scrape(t, m), `authpool_redis_in_use{store="penalty"}`); got != "0" {
		t.Errorf("after a fallback, in_use = %q, want 0", got)
	}
}
