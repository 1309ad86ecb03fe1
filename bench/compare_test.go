package bench

import (
	"bytes"
	"strings"
	"testing"
)

func TestCompare(t *testing.T) {
	rounds := func(tput ...float64) []Round {
		var r []Round
		for _, v := range tput {
			r = append(r, Round{Throughput: v, P50: 100, P90: 200, P99: 1000, P999: 2000})
		}
		return r
	}
	a := &Report{Throughput: 10000, Latency: Latency{P50: 100, P90: 200, P99: 1000, P999: 2000, Max: 5000}, Rounds: rounds(9800, 10000, 10200)}
	faster := &Report{Throughput: 12000, Latency: Latency{P50: 100, P90: 200, P99: 1050, P999: 2000, Max: 4000}, Rounds: rounds(11900, 12000, 12100)}
	c := Compare(Side{"a", []*Report{a}}, Side{"b", []*Report{faster}})
	row := func(m string) CompareRow {
		for _, r := range c.Rows {
			if r.Metric == m {
				return r
			}
		}
		t.Fatalf("no row %s", m)
		return CompareRow{}
	}
	tp := row("throughput")
	if tp.Diff != 2000 || tp.Percent != 20 || tp.SpreadA != 400 || tp.SpreadB != 200 || tp.Beyond == nil || !*tp.Beyond {
		t.Errorf("throughput row %+v: want +2000, 20%%, beyond the spread", tp)
	}
	// p99 moved by 50µs, and every round had the same p99: beyond a spread
	// of zero. Make the rounds spread it.
	faster.Rounds[0].P99 = 900
	c = Compare(Side{"a", []*Report{a}}, Side{"b", []*Report{faster}})
	if p := row("p99"); p.Beyond == nil || *p.Beyond {
		t.Errorf("p99 row %+v: a 50µs change within a 150µs spread", p)
	}
	var b bytes.Buffer
	if err := c.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"throughput", "+20.0%", "beyond the spread: B is better", "within the spread"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, b.String())
		}
	}
	// Several reports a side: their medians, and their spread.
	r := func(v float64) *Report { return &Report{Throughput: v} }
	c = Compare(Side{"a", []*Report{r(100), r(110), r(90)}}, Side{"b", []*Report{r(104), r(95), r(120)}})
	if tp := row("throughput"); tp.A != 100 || tp.B != 104 || tp.Beyond == nil || *tp.Beyond {
		t.Errorf("throughput row %+v: want medians 100 and 104, within the spread", tp)
	}
	// No rounds: no verdict.
	c = Compare(Side{"a", []*Report{r(100)}}, Side{"b", []*Report{r(200)}})
	if tp := row("throughput"); tp.Beyond != nil {
		t.Errorf("a verdict without rounds: %+v", tp)
	}
}
