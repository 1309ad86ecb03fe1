package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
)

// hgrmRow is a line of the percentile distribution.
type hgrmRow struct {
	value, quantile float64
	count           int64
}

// parseHGRM reads HdrHistogram's percentile-distribution format the way
// its plotters do: a header, rows of value, quantile, total count and
// 1/(1-quantile), then #[...] footers.
func parseHGRM(t *testing.T, b []byte) (rows []hgrmRow, total int64, maxMs float64) {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Scan()
	if h := strings.Fields(sc.Text()); strings.Join(h, " ") != "Value Percentile TotalCount 1/(1-Percentile)" {
		t.Fatalf("header %q", sc.Text())
	}
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
		case strings.HasPrefix(line, "#[Max"):
			var err error
			f := strings.FieldsFunc(line, func(r rune) bool { return r == '=' || r == ',' || r == ']' })
			maxMs, err = strconv.ParseFloat(strings.TrimSpace(f[1]), 64)
			if err != nil {
				t.Fatalf("footer %q: %v", line, err)
			}
			total, err = strconv.ParseInt(strings.TrimSpace(f[3]), 10, 64)
			if err != nil {
				t.Fatalf("footer %q: %v", line, err)
			}
		case strings.HasPrefix(line, "#"):
		default:
			f := strings.Fields(line)
			if len(f) != 4 {
				t.Fatalf("row %q", line)
			}
			v, err1 := strconv.ParseFloat(f[0], 64)
			q, err2 := strconv.ParseFloat(f[1], 64)
			n, err3 := strconv.ParseInt(f[2], 10, 64)
			if err := errors.Join(err1, err2, err3); err != nil {
				t.Fatalf("row %q: %v", line, err)
			}
			rows = append(rows, hgrmRow{v, q, n})
		}
	}
	return rows, total, maxMs
}

// The distribution written is the report's: parsed back, its count is the
// answers, its max the report's, and its 99th percentile row the p99.
func TestWriteHGRM(t *testing.T) {
	rep, err := Run(context.Background(), Config{Target: &fakeTarget{}, Workload: workload(), Concurrency: 2, Requests: 3000})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := rep.WriteHGRM(&b); err != nil {
		t.Fatal(err)
	}
	rows, total, maxMs := parseHGRM(t, b.Bytes())
	if total != rep.Yes+rep.No || len(rows) < 10 {
		t.Fatalf("total %d in %d rows, want %d answers", total, len(rows), rep.Yes+rep.No)
	}
	if math.Abs(maxMs*1e3-rep.Latency.Max) > 1 {
		t.Errorf("max %vms, report %vµs", maxMs, rep.Latency.Max)
	}
	for i, r := range rows {
		if i > 0 && (r.value < rows[i-1].value || r.quantile < rows[i-1].quantile || r.count < rows[i-1].count) {
			t.Fatalf("row %d %+v goes back from %+v", i, r, rows[i-1])
		}
	}
	// The rows around the 99th percentile bracket the report's p99 (rows
	// fall on HdrHistogram's ticks, 99.0 is not one), in ms to three
	// decimals.
	for i, r := range rows {
		if r.quantile >= 0.99 {
			if lo := rows[i-1].value * 1e3; rep.Latency.P99 < lo-1 || rep.Latency.P99 > r.value*1e3+1 {
				t.Errorf("p99 %vµs outside the rows around it, %vµs to %vµs", rep.Latency.P99, lo, r.value*1e3)
			}
			break
		}
	}
	if last := rows[len(rows)-1]; last.quantile != 1 || last.count != total {
		t.Errorf("last row %+v", last)
	}
	if err := (&Report{}).WriteHGRM(&b); !errors.Is(err, ErrNoHistogram) {
		t.Errorf("a report without a histogram: %v", err)
	}
}
