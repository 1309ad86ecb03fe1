package bench

import (
	"encoding/json"

	"fmt"
	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// Report is the outcome of a run. Latencies are in microseconds, memory in
// bytes.
type Report struct {
	Label       string    `json:"label,omitempty"`
	Target      string    `json:"target"` // pool, bare, dispatcher, socket or http
	Description string    `json:"description"`
	Workload    string    `json:"workload"`
	Load        Load      `json:"load"`
	Start       time.Time `json:"start"`

	Seconds    float64       `json:"seconds"` // length of the measured phase
	span       time.Duration // the same exactly, for a record (Seconds does not round-trip to the ns)
	Requests   int64         `json:"requests"`   // finished in it, errors included
	Throughput float64       `json:"throughput"` // answers a second
	Latency    Latency       `json:"latency_us"` // of answered requests

	Yes          int64    `json:"yes"`
	No           int64    `json:"no"`
	Checked      int64    `json:"checked"`       // answers compared with the expected one
	Wrong        int64    `json:"wrong"`         // of those, wrong (warmup not included)
	FalseAccepts int64    `json:"false_accepts"` // yes where no was expected
	FalseRejects int64    `json:"false_rejects"` // no where yes was expected
	WrongSamples []string `json:"wrong_examples,omitempty"`

	Errors     int64            `json:"errors"` // no answer at all
	ErrorKinds map[string]int64 `json:"error_kinds"`
	Outcomes   Outcomes         `json:"outcomes"`

	WarmupRequests int64 `json:"warmup_requests"`
	WarmupErrors   int64 `json:"warmup_errors"`
	WarmupWrong    int64 `json:"warmup_wrong"`

	Helpers         []HelperReport `json:"helpers"`
	HelpersReplaced int            `json:"helpers_replaced"`
	Leaking         bool           `json:"leaking"`
	Pool            *PoolReport    `json:"pool,omitempty"`
	Spawn           *SpawnReport   `json:"spawn,omitempty"`
	Daemon          *ProcessReport `json:"daemon,omitempty"`
	Notes           []string       `json:"notes,omitempty"`

	// Sources are the recorded files a report was read from.
	Sources       []string          `json:"sources,omitempty"`
	BreakingPoint *BreakingPoint    `json:"breaking_point,omitempty"`
	Thresholds    []ThresholdResult `json:"thresholds,omitempty"`
	Rounds        []Round           `json:"rounds,omitempty"`
	Distribution  []Percentile      `json:"distribution,omitempty"`
	Timeline      *Timeline         `json:"timeline,omitempty"`

	// hist is the measured phase's latencies, for WriteHGRM; nil in a
	// report read from JSON.
	hist *hdrhistogram.Histogram

	// WrongExamples is filled during the run; WrongSamples is its JSON
	// name.
	WrongExamples []string `json:"-"`
}

// Load is how the load was made.
type Load struct {
	Mode        string  `json:"mode"` // closed or open
	Concurrency int     `json:"concurrency"`
	Rate        float64 `json:"rate,omitempty"`  // open loop: the rate, or the shape's peak
	Shape       string  `json:"shape,omitempty"` // open loop: the rate's shape, when it changes
	Connections int     `json:"connections,omitempty"`
	Duration    string  `json:"duration,omitempty"`
	Requests    int64   `json:"requests,omitempty"`
	Warmup      string  `json:"warmup"`
}

// Latency summarizes the histogram, in microseconds.
type Latency struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99_9"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// Percentile is a point of the latency distribution: Percent of the
// answers took at most Value microseconds.
type Percentile struct {
	Percent float64 `json:"percent"`
	Value   float64 `json:"value_us"`
	Count   int64   `json:"count"`
}

// HelperReport is one helper process seen during the measured phase.
type HelperReport struct {
	PID           int   `json:"pid"`
	StartRSS      int64 `json:"start_rss"` // once it had answered (0: never seen answering)
	EndRSS        int64 `json:"end_rss"`   // at its last sample
	PeakRSS       int64 `json:"peak_rss"`  // VmHWM
	Growth        int64 `json:"growth"`    // EndRSS - StartRSS
	Served        int64 `json:"served"`    // answers between the two (-1: unknown)
	GrowthPer1000 int64 `json:"growth_per_1000,omitempty"`
	Replaced      bool  `json:"replaced"`   // gone before the run ended
	StartedIn     bool  `json:"started_in"` // started during the run
	Leaking       bool  `json:"leaking"`
}

// PoolReport is what an in-process pool counted during the measured phase.
type PoolReport struct {
	Processes      int    `json:"processes"`
	Restarts       int    `json:"restarts"`
	Spawns         uint64 `json:"spawns"`
	SpawnFailures  uint64 `json:"spawn_failures"`
	Exits          uint64 `json:"exits"`
	Timeouts       uint64 `json:"timeouts"`
	ProtocolErrors uint64 `json:"protocol_errors"`
	Overloaded     uint64 `json:"overloaded"`
	OutOfStep      uint64 `json:"out_of_step"` // helpers caught out of step
	Distrusted     uint64 `json:"distrusted"`  // times the pool stopped trusting the helper command
}

// SpawnReport is the time from starting a helper to its first answer.
type SpawnReport struct {
	Samples int     `json:"samples"`
	MeanMs  float64 `json:"mean_ms"`
	MaxMs   float64 `json:"max_ms"`
}

// ProcessReport is a daemon's memory at the end of the run.
type ProcessReport struct {
	PID     int   `json:"pid"`
	RSS     int64 `json:"rss"`
	PeakRSS int64 `json:"peak_rss"` // VmHWM
}

// WriteJSON writes r as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	r.WrongSamples = r.WrongExamples
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes r for people.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	if r.Label != "" {
		p("label       %s\n", r.Label)
	}
	p("target      %s (%s)\n", r.Target, r.Description)
	for _, src := range r.Sources {
		p("recorded    %s\n", src)
	}
	p("workload    %s\n", r.Workload)
	load := fmt.Sprintf("closed loop, %d concurrent", r.Load.Concurrency)
	if r.Load.Mode == "open" {
		load = fmt.Sprintf("open loop at %.0f/s, up to %d concurrent (latency from each request's due time)", r.Load.Rate, r.Load.Concurrency)
		if r.Load.Shape != "" {
			load = fmt.Sprintf("open loop at %s a second (peak %.0f), up to %d concurrent (latency from each request's due time)", r.Load.Shape, r.Load.Rate, r.Load.Concurrency)
		}
	}
	if r.Load.Connections > 0 {
		load += fmt.Sprintf(", %d connections", r.Load.Connections)
	}
	p("load        %s\n", load)
	p("requests    %d in %.2fs (warmup %s: %d)\n", r.Requests, r.Seconds, r.Load.Warmup, r.WarmupRequests)
	p("throughput  %.0f answers/s\n", r.Throughput)
	l := r.Latency
	p("latency     p50 %s  p90 %s  p99 %s  p99.9 %s  max %s\n", us(l.P50), us(l.P90), us(l.P99), us(l.P999), us(l.Max))
	p("answers     %d yes, %d no; %d checked\n", r.Yes, r.No, r.Checked)
	p("outcomes    %s\n", r.Outcomes)
	if r.Wrong+r.WarmupWrong > 0 {
		p("WRONG       %d wrong answers (%d false accepts, %d false rejects)", r.Wrong, r.FalseAccepts, r.FalseRejects)
		if r.WarmupWrong > 0 {
			p(", and %d during the warmup", r.WarmupWrong)
		}
		p("\n")
		for _, e := range r.WrongExamples {
			p("              %s\n", e)
		}
	} else {
		p("wrong       0\n")
	}
	if r.Errors == 0 {
		p("errors      0\n")
	} else {
		var kinds []string
		for _, k := range slices.Sorted(maps.Keys(r.ErrorKinds)) {
			kinds = append(kinds, fmt.Sprintf("%s %d", k, r.ErrorKinds[k]))
		}
		p("errors      %d: %s\n", r.Errors, strings.Join(kinds, ", "))
	}
	if bp := r.BreakingPoint; bp != nil {
		if bp.Found {
			p("breaking    at %.0f/s offered (%.0f answers/s), %.1fs in: %s\n", bp.Offered, bp.Throughput, bp.At, bp.Reason)
		} else {
			p("breaking    none up to %.0f/s offered (lines: p99 %s, errors %s)\n", bp.MaxOffered, us(bp.P99Line), fmtPct(bp.ErrorLine))
		}
	}
	if len(r.Rounds) > 1 {
		lo, hi := spread(r.Rounds, func(x Round) float64 { return x.Throughput })
		plo, phi := spread(r.Rounds, func(x Round) float64 { return x.P99 })
		p("rounds      %d: throughput %.0f to %.0f/s, p99 %s to %s\n", len(r.Rounds), lo, hi, us(plo), us(phi))
	}
	for _, t := range r.Thresholds {
		verdict := "ok"
		if !t.Pass {
			verdict = "FAILED"
		}
		p("threshold   %-16s %s (%s)\n", t.Spec, verdict, t.Got)
	}
	if r.Pool != nil {
		pr := r.Pool
		p("pool        %s; %d restarts (%d exited, %d timed out, %d protocol errors, %d failed to start); %d overloaded\n",
			Count(pr.Processes, "helper"), pr.Restarts, pr.Exits, pr.Timeouts, pr.ProtocolErrors, pr.SpawnFailures, pr.Overloaded)
		if pr.OutOfStep > 0 {
			p("            UNTRUSTWORTHY: helpers caught out of step %d times (stray output, or a yes that asking again contradicted); the pool stopped trusting them %d times\n",
				pr.OutOfStep, pr.Distrusted)
		}
	}
	if r.Spawn != nil {
		p("spawn       %.1f ms to first answer (mean of %d; max %.1f ms)\n", r.Spawn.MeanMs, r.Spawn.Samples, r.Spawn.MaxMs)
	}
	if len(r.Helpers) > 0 {
		p("helpers     pid      peak RSS   start RSS  end RSS    growth\n")
		for _, h := range r.Helpers {
			note := ""
			switch {
			case h.Leaking:
				note = "  LEAKING"
				if h.GrowthPer1000 > 0 {
					note += fmt.Sprintf(" (+%s per 1000 requests)", mib(h.GrowthPer1000))
				}
			case h.StartRSS == 0:
				note = "  (never seen answering)"
			}
			if h.Replaced {
				note += "  replaced during the run"
			} else if h.StartedIn {
				note += "  started during the run"
			}
			row := fmt.Sprintf("            %-8d %-10s %-10s %-10s %-10s%s", h.PID, mib(h.PeakRSS), mib(h.StartRSS), mib(h.EndRSS), signed(h.Growth), note)
			p("%s\n", strings.TrimRight(row, " "))
		}
		if r.HelpersReplaced > 0 {
			p("            %s replaced during the run\n", Count(r.HelpersReplaced, "helper"))
		}
	}
	if r.Leaking {
		p("LEAK        a helper's memory grew with the requests it answered: the script is leaking\n")
	}
	if r.Daemon != nil {
		p("daemon      pid %d: RSS %s, peak %s\n", r.Daemon.PID, mib(r.Daemon.RSS), mib(r.Daemon.PeakRSS))
	}
	for _, n := range r.Notes {
		p("note        %s\n", n)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// spread is the lowest and highest of f over rounds.
func spread(rounds []Round, f func(Round) float64) (lo, hi float64) {
	for i, x := range rounds {
		v := f(x)
		if i == 0 || v < lo {
			lo = v
		}
		if i == 0 || v > hi {
			hi = v
		}
	}
	return lo, hi
}

func us(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fs", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.2fms", v/1e3)
	}
	return fmt.Sprintf("%.0fµs", v)
}

func mib(b int64) string { return fmt.Sprintf("%.1fMiB", float64(b)/(1<<20)) }

func signed(b int64) string {
	if b >= 0 {
		return "+" + mib(b)
	}
	return "-" + mib(-b)
}

// Count is n and noun, in the plural unless n is 1: "1 helper", "4 helpers".
func Count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
