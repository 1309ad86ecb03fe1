package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

// Comparison is two runs side by side: A, the baseline, and B.
type Comparison struct {
	A    string       `json:"a"`
	B    string       `json:"b"`
	Rows []CompareRow `json:"rows"`
}

// CompareRow is one metric of a Comparison. Latencies are in
// microseconds, throughput in answers a second.
type CompareRow struct {
	Metric  string  `json:"metric"`
	A       float64 `json:"a"`
	B       float64 `json:"b"`
	Diff    float64 `json:"diff"`               // B - A
	Percent float64 `json:"percent,omitempty"`  // of A
	SpreadA float64 `json:"spread_a,omitempty"` // highest minus lowest of A's rounds
	SpreadB float64 `json:"spread_b,omitempty"`
	// Beyond is true when the difference is larger than the spread of
	// both sides' rounds, and missing when a side has no rounds.
	Beyond *bool `json:"beyond_spread,omitempty"`
}

// Side is one side of a comparison: one report, whose rounds are the
// consecutive parts of its measured phase, or several reports of the same
// configuration, each a round, whose medians are compared.
type Side struct {
	Name    string
	Reports []*Report
}

type metric struct {
	name  string
	get   func(*Report) float64
	round func(Round) float64 // nil: no spread
	lat   bool
}

var compareMetrics = []metric{
	{"throughput", func(r *Report) float64 { return r.Throughput }, func(x Round) float64 { return x.Throughput }, false},
	{"p50", func(r *Report) float64 { return r.Latency.P50 }, func(x Round) float64 { return x.P50 }, true},
	{"p90", func(r *Report) float64 { return r.Latency.P90 }, func(x Round) float64 { return x.P90 }, true},
	{"p99", func(r *Report) float64 { return r.Latency.P99 }, func(x Round) float64 { return x.P99 }, true},
	{"p99.9", func(r *Report) float64 { return r.Latency.P999 }, func(x Round) float64 { return x.P999 }, true},
	{"max", func(r *Report) float64 { return r.Latency.Max }, nil, true},
	{"errors", func(r *Report) float64 { return float64(r.Errors) }, nil, false},
	{"wrong", func(r *Report) float64 { return float64(r.Wrong + r.WarmupWrong) }, nil, false},
}

// Compare sets b against a. A difference counts as beyond the spread when
// it is larger than the highest minus the lowest value of either side's
// rounds: smaller ones are what the run does by itself.
func Compare(a, b Side) *Comparison {
	c := &Comparison{A: a.Name, B: b.Name}
	for _, m := range compareMetrics {
		va, ra := sideValue(a, m)
		vb, rb := sideValue(b, m)
		row := CompareRow{Metric: m.name, A: va, B: vb, Diff: vb - va}
		if va != 0 {
			row.Percent = 100 * (vb - va) / va
		}
		if len(ra) >= 2 && len(rb) >= 2 {
			row.SpreadA, row.SpreadB = slices.Max(ra)-slices.Min(ra), slices.Max(rb)-slices.Min(rb)
			beyond := math.Abs(row.Diff) > max(row.SpreadA, row.SpreadB)
			row.Beyond = &beyond
		}
		c.Rows = append(c.Rows, row)
	}
	return c
}

// sideValue is the side's value of m, and its rounds' values.
func sideValue(s Side, m metric) (float64, []float64) {
	if len(s.Reports) == 1 {
		r := s.Reports[0]
		var rounds []float64
		if m.round != nil {
			for _, x := range r.Rounds {
				rounds = append(rounds, m.round(x))
			}
		}
		return m.get(r), rounds
	}
	var vals []float64
	for _, r := range s.Reports {
		vals = append(vals, m.get(r))
	}
	if m.round == nil {
		return median(vals), nil
	}
	return median(vals), vals
}

// WriteText writes c as a table.
func (c *Comparison) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "A  %s\nB  %s\n\n", c.A, c.B)
	fmt.Fprintf(&b, "%-11s %12s %12s %12s %9s   %s\n", "metric", "A", "B", "B - A", "", "spread of the rounds A / B")
	for _, r := range c.Rows {
		f := func(v float64) string { return fmt.Sprintf("%.0f", v) }
		lat := r.Metric != "throughput" && r.Metric != "errors" && r.Metric != "wrong"
		if lat {
			f = us
		}
		diff := f(math.Abs(r.Diff))
		switch {
		case r.Diff > 0:
			diff = "+" + diff
		case r.Diff < 0:
			diff = "-" + diff
		}
		pct := ""
		if r.A != 0 {
			pct = fmt.Sprintf("%+.1f%%", r.Percent)
		}
		verdict := ""
		switch {
		case r.Beyond == nil && (r.Metric == "errors" || r.Metric == "wrong" || r.Metric == "max"):
		case r.Beyond == nil:
			verdict = "no rounds to judge by"
		case *r.Beyond:
			verdict = fmt.Sprintf("%s / %s  beyond the spread: %s", f(r.SpreadA), f(r.SpreadB), better(r.Metric, r.Diff))
		default:
			verdict = fmt.Sprintf("%s / %s  within the spread", f(r.SpreadA), f(r.SpreadB))
		}
		fmt.Fprintf(&b, "%-11s %12s %12s %12s %9s   %s\n", r.Metric, f(r.A), f(r.B), diff, pct, verdict)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// better says which way a difference beyond the spread goes.
func better(metric string, diff float64) string {
	if (metric == "throughput") == (diff > 0) {
		return "B is better"
	}
	return "B is worse"
}

// WriteJSON writes c as indented JSON.
func (c *Comparison) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(c)
}

// ReadReports reads each file: a JSON report (bench --json), or a record,
// whose run is reported.
func ReadReports(paths []string) ([]*Report, error) {
	var out []*Report
	for _, p := range paths {
		if isRecord(p) {
			reps, err := ReadRecords([]string{p}, ReadOptions{})
			if err != nil {
				return nil, err
			}
			out = append(out, reps...)
			continue
		}
		r, err := readJSONReport(p)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}
