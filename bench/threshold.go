package bench

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrThreshold is wrapped by ParseThreshold's errors.
var ErrThreshold = errors.New("bad threshold")

// Threshold is a condition a run must meet, such as "p99<5ms",
// "errors<0.1%" or "wrong=0".
type Threshold struct {
	Spec   string
	metric string
	op     string
	value  float64 // µs for a latency, answers/s for throughput, else a count or a fraction
	pct    bool    // value is a fraction of the requests
}

// ThresholdResult is a threshold judged on a report.
type ThresholdResult struct {
	Spec string `json:"threshold"`
	Got  string `json:"got"`
	Pass bool   `json:"pass"`
}

// Metrics a threshold may name: latencies take a duration, throughput a
// rate, and the counts a number or a percentage of the requests.
var (
	latencyMetrics = []string{"p50", "p90", "p99", "p99.9", "max", "mean"}
	countMetrics   = []string{"errors", "wrong", "false_accepts", "false_rejects", "ok", "rejected",
		"timeout", "unavailable", "overloaded", "connection", "other", "warmup_wrong"}
)

// ThresholdHelp describes the threshold syntax, for usage messages.
const ThresholdHelp = "METRIC OP VALUE: OP one of < <= > >= = !=; METRIC a latency (p50, p90, p99, p99.9, max, mean: VALUE a duration like 5ms or 250us), throughput (answers/s), or a count (errors, wrong, false_accepts, false_rejects, ok, rejected, timeout, unavailable, overloaded, connection, other: VALUE a number, or a percentage of the requests like 0.1%)"

// ParseThreshold reads "METRIC OP VALUE" (see ThresholdHelp).
func ParseThreshold(spec string) (Threshold, error) {
	s := strings.ReplaceAll(spec, " ", "")
	i := strings.IndexAny(s, "<>=!")
	if i <= 0 {
		return Threshold{}, fmt.Errorf("%w %q: want %s", ErrThreshold, spec, ThresholdHelp)
	}
	t := Threshold{Spec: spec, metric: strings.ToLower(s[:i])}
	rest := s[i:]
	for _, op := range []string{"<=", ">=", "==", "!=", "<", ">", "="} {
		if strings.HasPrefix(rest, op) {
			t.op, rest = op, rest[len(op):]
			break
		}
	}
	if t.op == "==" {
		t.op = "="
	}
	bad := func(why string) (Threshold, error) {
		return Threshold{}, fmt.Errorf("%w %q: %s", ErrThreshold, spec, why)
	}
	if t.op == "" || rest == "" {
		return bad("want METRIC OP VALUE, OP one of < <= > >= = !=")
	}
	switch m := t.metric; {
	case m == "p999":
		t.metric = "p99.9"
		fallthrough
	case slices.Contains(latencyMetrics, t.metric):
		d, err := time.ParseDuration(strings.ReplaceAll(rest, "us", "µs"))
		if err != nil || d < 0 {
			return bad(fmt.Sprintf("%q is not a duration like 5ms or 250us", rest))
		}
		t.value = float64(d) / 1e3
	case m == "throughput" || m == "rps":
		t.metric = "throughput"
		v, err := strconv.ParseFloat(strings.TrimSuffix(rest, "/s"), 64)
		if err != nil || v < 0 {
			return bad(fmt.Sprintf("%q is not a rate", rest))
		}
		t.value = v
	case slices.Contains(countMetrics, m):
		num, pct := strings.CutSuffix(rest, "%")
		v, err := strconv.ParseFloat(num, 64)
		if err != nil || v < 0 || (pct && v > 100) {
			return bad(fmt.Sprintf("%q is not a count or a percentage", rest))
		}
		t.value, t.pct = v, pct
		if pct {
			t.value = v / 100
		}
	default:
		return bad("unknown metric " + strconv.Quote(t.metric))
	}
	return t, nil
}

// Judge measures r against t.
func (t Threshold) Judge(r *Report) ThresholdResult {
	var v float64
	var got string
	c := r.Outcomes.counts()
	switch t.metric {
	case "p50", "p90", "p99", "p99.9", "max", "mean":
		v = map[string]float64{"p50": r.Latency.P50, "p90": r.Latency.P90, "p99": r.Latency.P99,
			"p99.9": r.Latency.P999, "max": r.Latency.Max, "mean": r.Latency.Mean}[t.metric]
		got = t.metric + " " + us(v)
	case "throughput":
		v = r.Throughput
		got = fmt.Sprintf("%.0f answers/s", v)
	default:
		n := map[string]int64{
			"errors": r.Errors, "wrong": r.Wrong, "false_accepts": r.FalseAccepts, "false_rejects": r.FalseRejects,
			"ok": c[OutcomeOK], "rejected": c[OutcomeRejected], "timeout": c[OutcomeTimeout],
			"unavailable": c[OutcomeUnavailable], "overloaded": c[OutcomeOverloaded],
			"connection": c[OutcomeConnection], "other": c[OutcomeOther], "warmup_wrong": r.WarmupWrong,
		}[t.metric]
		v = float64(n)
		got = fmt.Sprintf("%s %d", t.metric, n)
		if t.pct {
			v = 0
			if r.Requests > 0 {
				v = float64(n) / float64(r.Requests)
			}
			got = fmt.Sprintf("%s %d of %d, %s", t.metric, n, r.Requests, fmtPct(v))
		}
	}
	var pass bool
	switch t.op {
	case "<":
		pass = v < t.value
	case "<=":
		pass = v <= t.value
	case ">":
		pass = v > t.value
	case ">=":
		pass = v >= t.value
	case "=":
		pass = v == t.value
	case "!=":
		pass = v != t.value
	}
	// Nothing measured meets no latency or throughput threshold.
	if r.Yes+r.No == 0 && t.metric != "throughput" && slices.Contains(latencyMetrics, t.metric) {
		pass, got = false, "nothing was answered"
	}
	return ThresholdResult{Spec: t.Spec, Got: got, Pass: pass}
}

// JudgeAll measures r against every threshold, puts the results in
// r.Thresholds, and reports whether all passed.
func JudgeAll(r *Report, ts []Threshold) bool {
	ok := true
	r.Thresholds = nil
	for _, t := range ts {
		res := t.Judge(r)
		r.Thresholds = append(r.Thresholds, res)
		ok = ok && res.Pass
	}
	return ok
}
