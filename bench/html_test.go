package bench

import (
	"bytes"
	"strings"
	"testing"
)

// Names in a report come from records anyone may have written: they are
// text in the page, never markup.
func TestHTMLEscapes(t *testing.T) {
	evil := `</title></text><script>alert(1)</script><img src=x onerror=alert(2)>`
	rep := &Report{
		Label: evil, Target: "fake", Description: evil, Workload: evil,
		Load:          Load{Mode: "open", Rate: 10, Shape: evil},
		Timeline:      &Timeline{SlotSeconds: 1, Points: []TimePoint{{At: 0, Throughput: 5, P50: 10, P99: 20, P999: 30, Outcomes: Outcomes{OK: 5}}}},
		Distribution:  []Percentile{{Percent: 50, Value: 10}, {Percent: 99, Value: 20}},
		BreakingPoint: &BreakingPoint{Found: true, Reason: evil},
		Thresholds:    []ThresholdResult{{Spec: evil, Got: evil}},
	}
	var b bytes.Buffer
	if err := WriteHTML(&b, []*Report{rep}); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, bad := range []string{"<script", "<img", "</text><"} {
		if strings.Contains(page, bad) {
			t.Errorf("the page holds %q unescaped", bad)
		}
	}
	for _, want := range []string{"Content-Security-Policy", "default-src 'none'", "&lt;script&gt;"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
}
