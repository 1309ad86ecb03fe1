package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/authpool/authpool/penalty"
)

// WatchPenalty adds the guessing defence's counters and table sizes, read
// from stats at each scrape.
func (m *Metrics) WatchPenalty(stats func() penalty.Stats) {
	m.reg.MustRegister(&penaltyCollector{stats: stats})
}

// penaltyCollector turns one penalty.Stats snapshot per scrape into
// metrics.
type penaltyCollector struct {
	stats func() penalty.Stats
}

var (
	penaltyDelayedDesc  = prometheus.NewDesc("authpool_penalty_delayed_total", "Password checks that met a penalty and waited before a helper was asked.", nil, nil)
	penaltyHeldDesc     = prometheus.NewDesc("authpool_penalty_held_total", "Password checks asked at once on a clean key whose answer then waited its turn: a failure on the key came while they were asked.", nil, nil)
	penaltyWithheldDesc = prometheus.NewDesc("authpool_penalty_withheld_total", "Of the held password checks, those whose caller could not wait its turn: a helper was asked and no answer was given.", nil, nil)
	penaltyGaveUpDesc   = prometheus.NewDesc("authpool_penalty_gave_up_total", "Password checks that ended waiting their turn: the penalty outlasted the deadline, too many in line on one key, or the caller left (held ones included).", nil, nil)
	penaltyFailuresDesc = prometheus.NewDesc("authpool_penalty_failures_total", "Failed password checks (each one a fail2ban line).", nil, nil)
	penaltyRepeatsDesc  = prometheus.NewDesc("authpool_penalty_repeats_total", "Failed password checks with a wrong password already tried for the key, which raised no penalty.", nil, nil)
	penaltyRaisedDesc   = prometheus.NewDesc("authpool_penalty_keys_penalised_total", "Key penalties raised: up to three per failure (address, user and address, user).", nil, nil)
	penaltyClearedDesc  = prometheus.NewDesc("authpool_penalty_cleared_total", "(user, address) penalties cleared by a successful login.", nil, nil)
	penaltyStoreErrDesc = prometheus.NewDesc("authpool_penalty_store_errors_total", "Penalty store calls that failed; the check went on without that key's penalty.", nil, nil)
	penaltyKeysDesc     = prometheus.NewDesc("authpool_penalty_keys", "Keys the penalty store holds now (-1: the store cannot tell).", nil, nil)
	penaltyLinesDesc    = prometheus.NewDesc("authpool_penalty_lines", "Keys with password checks in flight now.", nil, nil)
	penaltyInLineDesc   = prometheus.NewDesc("authpool_penalty_in_line", "Password checks waiting their turn, or being answered after it, now.", nil, nil)
)

func (c *penaltyCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{penaltyDelayedDesc, penaltyHeldDesc, penaltyWithheldDesc, penaltyGaveUpDesc, penaltyFailuresDesc, penaltyRepeatsDesc,
		penaltyRaisedDesc, penaltyClearedDesc, penaltyStoreErrDesc, penaltyKeysDesc, penaltyLinesDesc, penaltyInLineDesc} {
		ch <- d
	}
}

func (c *penaltyCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.stats()
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	gauge := func(d *prometheus.Desc, v int) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v))
	}
	counter(penaltyDelayedDesc, st.Delayed)
	counter(penaltyHeldDesc, st.Held)
	counter(penaltyWithheldDesc, st.Withheld)
	counter(penaltyGaveUpDesc, st.GaveUp)
	counter(penaltyFailuresDesc, st.Failures)
	counter(penaltyRepeatsDesc, st.Repeats)
	counter(penaltyRaisedDesc, st.Raised)
	counter(penaltyClearedDesc, st.Cleared)
	counter(penaltyStoreErrDesc, st.StoreErrors)
	gauge(penaltyKeysDesc, st.Keys)
	gauge(penaltyLinesDesc, st.Lines)
	gauge(penaltyInLineDesc, st.InLine)
}
