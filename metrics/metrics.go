package metrics

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/authpool/authpool/framing"
	"github.com/authpool/authpool/pool"
)

// Metrics holds authpool's metrics. Create it with New, give it to
// pool.Config.Observer, then call Watch with the pool's Stats.
type Metrics struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	queueWait prometheus.Histogram
	starts    prometheus.Histogram
	ended     *prometheus.CounterVec
	timeouts  prometheus.Counter
	outOfStep *prometheus.CounterVec
	trust     *prometheus.CounterVec

	// series holds the series each (op, outcome) has counted to, once
	// made: WithLabelValues hashes the labels and locks the vector on
	// every call, and every request made two such calls (BenchmarkRequest).
	// Ops and outcomes are a few dozen pairs in all.
	series sync.Map // seriesKey → *requestSeries
}

type seriesKey struct {
	op      framing.Op
	outcome string
}

type requestSeries struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

var _ pool.Observer = (*Metrics)(nil)

// Latency buckets from 100µs (a C helper over a pipe) to 30s (past any
// sane timeout).
var buckets = prometheus.ExponentialBucketsRange(0.0001, 30, 16)

// New returns Metrics on a fresh registry, with Go runtime and process
// metrics included.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authpool_requests_total",
			Help: "Requests answered, by operation and outcome (yes, no, or the error kind).",
		}, []string{"op", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "authpool_request_duration_seconds",
			Help:    "Time from taking a request to its answer, waiting for a helper included.",
			Buckets: buckets,
		}, []string{"op"}),
		queueWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "authpool_queue_wait_seconds",
			Help:    "Time a request waited for a free helper (blocking) or a worker (nonblocking).",
			Buckets: buckets,
		}),
		starts: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "authpool_helper_start_seconds",
			Help:    "Time to start a helper process.",
			Buckets: prometheus.ExponentialBucketsRange(0.0001, 10, 12),
		}),
		ended: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authpool_helper_restarts_total",
			Help: "Helpers taken out of service, by reason: exit, signal, timeout, protocol_error, error, caller_gave_up, recycle, reload, pool_shrunk, untrusted, probe_failed, shutdown (pool.RetireReason).",
		}, []string{"reason"}),
		timeouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authpool_timeouts_total",
			Help: "Requests that got no answer in time, from a helper or while waiting for one.",
		}),
		outOfStep: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authpool_helper_out_of_step_total",
			Help: "Helpers caught out of step, by what they did: output_while_idle, extra_output, junk, answers_disagree, probe_failed.",
		}, []string{"what"}),
		trust: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authpool_trust_changes_total",
			Help: "Times the helper command stopped being trusted (trusted=\"false\", reason: what the last helper caught did) or was trusted again (trusted=\"true\", reason: probe_passed, new_command).",
		}, []string{"trusted", "reason"}),
	}
	m.reg.MustRegister(m.requests, m.duration, m.queueWait, m.starts, m.ended, m.timeouts, m.outOfStep, m.trust,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Request implements pool.Observer.
func (m *Metrics) Request(op framing.Op, outcome string, wait, total time.Duration) {
	k := seriesKey{op, outcome}
	s, ok := m.series.Load(k)
	if !ok {
		s, _ = m.series.LoadOrStore(k, &requestSeries{
			requests: m.requests.WithLabelValues(op.String(), outcome),
			duration: m.duration.WithLabelValues(op.String()),
		})
	}
	rs := s.(*requestSeries)
	rs.requests.Inc()
	rs.duration.Observe(total.Seconds())
	m.queueWait.Observe(wait.Seconds())
	if outcome == string(framing.KindTimeout) {
		m.timeouts.Inc()
	}
}

// HelperStarted implements pool.Observer.
func (m *Metrics) HelperStarted(spawn time.Duration) { m.starts.Observe(spawn.Seconds()) }

// HelperEnded implements pool.Observer.
func (m *Metrics) HelperEnded(reason string) { m.ended.WithLabelValues(reason).Inc() }

// OutOfStep implements pool.Observer.
func (m *Metrics) OutOfStep(what string) { m.outOfStep.WithLabelValues(what).Inc() }

// Trust implements pool.Observer.
func (m *Metrics) Trust(trusted bool, reason string) {
	m.trust.WithLabelValues(strconv.FormatBool(trusted), reason).Inc()
}

// Watch adds the gauges read from stats at each scrape: helpers by state,
// queue depth, waiting callers, requests in flight.
func (m *Metrics) Watch(stats func() pool.Stats) {
	m.reg.MustRegister(&statsCollector{stats: stats})
}

// Register adds more collectors (the cache's, say) to the registry.
func (m *Metrics) Register(c ...prometheus.Collector) { m.reg.MustRegister(c...) }

// Handler serves the registry in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Gatherer gives tests and embedders the registry itself.
func (m *Metrics) Gatherer() prometheus.Gatherer { return m.reg }

// statsCollector turns one pool.Stats snapshot per scrape into gauges.
type statsCollector struct {
	stats func() pool.Stats
}

var (
	helpersDesc  = prometheus.NewDesc("authpool_helpers", "Helper slots by state (starting, ready, backoff, stopped, untrusted, probing).", []string{"state"}, nil)
	trustedDesc  = prometheus.NewDesc("authpool_helpers_trusted", "1 while the helper command is trusted, 0 while requests fail because its helpers were caught out of step.", nil, nil)
	queueDesc    = prometheus.NewDesc("authpool_queue_depth", "Requests waiting: in the nonblocking queue, or for a free helper in blocking mode.", nil, nil)
	inflightDesc = prometheus.NewDesc("authpool_requests_in_flight", "Requests taken and not yet answered.", nil, nil)
)

func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- helpersDesc
	ch <- queueDesc
	ch <- inflightDesc
	ch <- trustedDesc
}

func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.stats()
	states := map[pool.HelperState]int{}
	for _, h := range st.Helpers {
		states[h.State]++
	}
	for _, state := range pool.HelperStates() {
		ch <- prometheus.MustNewConstMetric(helpersDesc, prometheus.GaugeValue, float64(states[state]), string(state))
	}
	ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, float64(st.Queued+st.Waiting))
	ch <- prometheus.MustNewConstMetric(inflightDesc, prometheus.GaugeValue, float64(st.InFlight))
	trusted := 1.0
	if st.Untrusted {
		trusted = 0
	}
	ch <- prometheus.MustNewConstMetric(trustedDesc, prometheus.GaugeValue, trusted)
}
