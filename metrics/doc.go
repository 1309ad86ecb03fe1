// Package metrics exposes a pool's work as Prometheus metrics, on a
// registry of its own (so embedding programs keep theirs clean), every name
// prefixed authpool_.
//
// Metrics implements pool.Observer: the pool reports each request and each
// helper start and end as they happen, which feeds the counters and
// histograms; gauges (helpers by state, queue depth, requests in flight)
// are read from pool.Stats when Prometheus scrapes. No label ever holds a
// user name, a server name or a password: labels are the operation, the
// outcome and the reason a helper ended, each from a small fixed set.
package metrics
