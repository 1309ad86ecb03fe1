package main

import "testing"

// A ratio against a baseline is the median of the rounds' ratios: a round
// run in the machine's slow mode moves both of its sides alike, and a
// round that failed on either side is left out.
func TestRatioPairsRounds(t *testing.T) {
	for _, tt := range []struct {
		name  string
		r, vs []float64
		want  float64
	}{
		{"steady", []float64{90, 90, 90}, []float64{100, 100, 100}, 0.9},
		// Rounds 2 and 5 ran slow; their ratios are still 0.83 and 1.125.
		{"mode change", []float64{95, 50, 96, 97, 45}, []float64{100, 60, 100, 100, 40}, 0.96},
		{"failed rounds left out", []float64{0, 90, 80}, []float64{100, 100, 0}, 0.9},
		{"nothing measured", []float64{0}, []float64{100}, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := &baselineRow{runs: tt.r}
			vs := &baselineRow{runs: tt.vs}
			if got := r.ratioTo(vs); got < tt.want-1e-9 || got > tt.want+1e-9 {
				t.Errorf("ratioTo = %v, want %v", got, tt.want)
			}
		})
	}
}
