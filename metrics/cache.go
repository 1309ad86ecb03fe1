package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/authpool/authpool/cache"
)

// WatchCache adds the answer cache's counters, read from stats at each
// scrape.
func (m *Metrics) WatchCache(stats func() cache.Stats) {
	m.reg.MustRegister(&cacheCollector{stats: stats})
}

// cacheCollector turns one cache.Stats snapshot per scrape into metrics.
type cacheCollector struct {
	stats func() cache.Stats
}

var (
	cacheHitsDesc    = prometheus.NewDesc("authpool_cache_hits_total", "Requests answered from the cache.", nil, nil)
	cacheMissesDesc  = prometheus.NewDesc("authpool_cache_misses_total", "Cacheable requests that asked a helper.", nil, nil)
	cacheEntriesDesc = prometheus.NewDesc("authpool_cache_entries", "Answers in the cache (not exported for a shared cache, which does not count them).", nil, nil)
	cacheInvalDesc   = prometheus.NewDesc("authpool_cache_invalidations_total", "What changes to users made the cache forget: answers, or users' generations in a shared cache.", nil, nil)
	cacheStoreErrors = prometheus.NewDesc("authpool_cache_store_errors_total", "Calls to the shared cache's Redis that failed; each lookup among them asked a helper.", nil, nil)
)

func (c *cacheCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- cacheHitsDesc
	ch <- cacheMissesDesc
	ch <- cacheEntriesDesc
	ch <- cacheInvalDesc
	ch <- cacheStoreErrors
}

func (c *cacheCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.stats()
	ch <- prometheus.MustNewConstMetric(cacheHitsDesc, prometheus.CounterValue, float64(st.Hits))
	ch <- prometheus.MustNewConstMetric(cacheMissesDesc, prometheus.CounterValue, float64(st.Misses))
	if st.Entries >= 0 {
		ch <- prometheus.MustNewConstMetric(cacheEntriesDesc, prometheus.GaugeValue, float64(st.Entries))
	}
	ch <- prometheus.MustNewConstMetric(cacheInvalDesc, prometheus.CounterValue, float64(st.Invalidations))
	ch <- prometheus.MustNewConstMetric(cacheStoreErrors, prometheus.CounterValue, float64(st.StoreErrors))
}
