package metrics

import (
	"testing"

	"github.com/authpool/authpool/penalty"
)

// TestPenaltyMetrics: each of the Guard's counters and table sizes is one
// metric, read at each scrape.
func TestPenaltyMetrics(t *testing.T) {
	m := New()
	st := penalty.Stats{Delayed: 1, GaveUp: 2, Failures: 3, Repeats: 4, Raised: 5, Cleared: 6, StoreErrors: 7, Keys: 8, Lines: 9, InLine: 10, Held: 11, Withheld: 13}
	m.WatchPenalty(func() penalty.Stats { return st })
	page := scrape(t, m)
	for series, want := range map[string]string{
		"authpool_penalty_delayed_total":        "1",
		"authpool_penalty_gave_up_total":        "2",
		"authpool_penalty_failures_total":       "3",
		"authpool_penalty_repeats_total":        "4",
		"authpool_penalty_keys_penalised_total": "5",
		"authpool_penalty_cleared_total":        "6",
		"authpool_penalty_store_errors_total":   "7",
		"authpool_penalty_keys":                 "8",
		"authpool_penalty_lines":                "9",
		"authpool_penalty_in_line":              "10",
		"authpool_penalty_held_total":           "11",
		"authpool_penalty_withheld_total":       "13",
	} {
		if got := value(page, series); got != want {
			t.Errorf("%s = %q, want %s", series, got, want)
		}
	}
	st.Delayed = 12
	if got := value(scrape(t, m), "authpool_penalty_delayed_total"); got != "12" {
		t.Errorf("after a change, delayed = %q, want 12", got)
	}
}
