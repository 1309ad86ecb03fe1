package bench

import (
	"errors"
	"io"
)

// ErrNoHistogram is WriteHGRM's error for a report read from JSON, which
// keeps percentiles but not the histogram.
var ErrNoHistogram = errors.New("no latency histogram (a report read from JSON has none; use a run or a record)")

// WriteHGRM writes the measured phase's latencies in HdrHistogram's
// percentile-distribution text format (values in milliseconds, five
// ticks per half distance, as HdrHistogram's own tools write it), which
// HdrHistogram's plotter and hdr-plot read.
func (r *Report) WriteHGRM(w io.Writer) error {
	if r.hist == nil {
		return ErrNoHistogram
	}
	_, err := r.hist.PercentilesPrint(w, 5, 1e6)
	return err
}
