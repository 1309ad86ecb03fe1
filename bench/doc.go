// Package bench is authpool's load generator: it sends a workload of auth
// requests to a target (an in-process pool, helpers driven by a bare loop
// with no pool, a running daemon's Unix socket, or an HTTP endpoint), checks
// every answer against the one expected, records latencies in an HDR
// histogram, watches the helpers' memory, and reports.
//
// # Load
//
// In a closed loop (Config.Rate zero) Concurrency workers each send a
// request, wait for its answer and send the next: throughput is what the
// target can do at that concurrency. In an open loop (Rate > 0) requests are
// due at fixed times whatever the target does, and each latency is measured
// from the time its request was due, not from the time it was sent: a target
// that stalls makes every request due during the stall late, instead of
// holding back the load generator and hiding the stall (coordinated
// omission). The schedule is kept by one pacing thread that sleeps with
// nanosleep(2) and a 1 µs timer slack, because Go's timers round sleeps
// below a millisecond up to one when the process is otherwise idle.
//
// # Checking
//
// Every item of a workload carries the answer it must get. An answer that
// differs is a wrong answer, counted apart from errors (no answer at all)
// and split into false accepts (a yes that should have been a no: someone
// got in) and false rejects. Wrong answers are what a helper that shares
// state between processes, or reads a stale answer, produces under load.
//
// An open loop's rate may change over time (Shape: ramps, steps, stages).
// The run's timeline keeps, in slots of 100ms or more, the latencies of
// the requests due in each slot and the outcomes of those that ended in
// it; from it come the charts, the rounds (consecutive fifths of the run,
// whose spread says what a comparison can tell apart), and an open loop's
// breaking point: the rate at which p99 or errors crossed a line.
//
// # Outcomes
//
// Each request ends as one Outcome: ok or rejected (the right answer),
// a false accept or a false reject (a wrong one), or a failure (timeout,
// unavailable, overloaded, connection, other).
//
// # Output
//
// A Report is text or JSON; WriteHGRM writes its latency distribution in
// HdrHistogram's percentile format; WriteHTML charts reports, overlaid, in
// one self-contained page. A RecordWriter keeps every request as a JSON
// line (users, never passwords); ReadRecords reports records again,
// merging those of one run made from several machines; Compare sets two
// runs side by side. Thresholds judge a report for CI.
//
// # Helpers' memory
//
// While the load runs, the helpers' VmRSS and VmHWM are read from
// /proc/PID/status. A helper whose resident size keeps growing with the
// requests it answers is leaking; Report says so, with the growth.
package bench
