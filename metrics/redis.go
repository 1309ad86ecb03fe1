package metrics

import "github.com/prometheus/client_golang/prometheus"

// RedisStats is what a store shared through Redis (--redis) reports: the
// penalty store's redisstore.Stats, and the shared cache's.
type RedisStats struct {
	InUse       bool   // Redis is in use now; false while the daemon falls back on its own state
	Errors      uint64 // Redis calls that failed and were answered locally instead
	Fallbacks   uint64 // switches from Redis to the local state
	Recoveries  uint64 // switches to Redis, the first connection included
	ProbeErrors uint64 // health probes that found Redis still away
}

// WatchRedis adds the Redis counters of one shared store, labelled
// store=name ("penalty", "cache"), read from stats at each scrape.
func (m *Metrics) WatchRedis(name string, stats func() RedisStats) {
	labels := prometheus.Labels{"store": name}
	desc := func(metric, help string) *prometheus.Desc {
		return prometheus.NewDesc(metric, help, nil, labels)
	}
	m.reg.MustRegister(&redisCollector{
		stats:       stats,
		inUse:       desc("authpool_redis_in_use", "1 while the store is shared through Redis (--redis), 0 while the daemon falls back on its own state because Redis failed or is not reached yet."),
		errors:      desc("authpool_redis_errors_total", "Redis calls that failed or missed their deadline; each was answered by the daemon's own state."),
		fallbacks:   desc("authpool_redis_fallbacks_total", "Switches from Redis to the daemon's own state."),
		recoveries:  desc("authpool_redis_recoveries_total", "Switches to Redis, the first connection included."),
		probeErrors: desc("authpool_redis_probe_errors_total", "Health probes that found Redis still away."),
	})
}

type redisCollector struct {
	stats                                             func() RedisStats
	inUse, errors, fallbacks, recoveries, probeErrors *prometheus.Desc
}

func (c *redisCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.inUse, c.errors, c.fallbacks, c.recoveries, c.probeErrors} {
		ch <- d
	}
}

func (c *redisCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.stats()
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	inUse := 0.0
	if st.InUse {
		inUse = 1
	}
	ch <- prometheus.MustNewConstMetric(c.inUse, prometheus.GaugeValue, inUse)
	counter(c.errors, st.Errors)
	counter(c.fallbacks, st.Fallbacks)
	counter(c.recoveries, st.Recoveries)
	counter(c.probeErrors, st.ProbeErrors)
}
