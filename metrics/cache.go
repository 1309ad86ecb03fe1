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
	cacheEntriesDesc = prometheus.NewDesc("authpool_cache_entries", "Answers in the cache.", nil, nil)
)

func (c *cacheCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- cacheHitsDesc
	ch <- cacheMissesDesc
	ch <- cacheEntriesDesc
}

func (c *cacheCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.stats()
	ch <- prometheus.MustNewConstMetric(cacheHitsDesc, prometheus.CounterValue, float64(st.Hits))
	ch <- prometheus.MustNewConstMetric(cacheMissesDesc, prometheus.CounterValue, float64(st.Misses))
	ch <- prometheus.MustNewConstMetric(cacheEntriesDesc, prometheus.GaugeValue, float64(st.Entries))
}
