package main

// whyMissed explains, for each target, what profiling found; the text is
// shown under a target only when this run missed it. Profiles were taken
// with "authpool bench --cpuprofile" (load generator and in-process pool)
// and a CPU profile of the daemon under "authpool bench --socket", on this
// 2-CPU machine with the C echo helper at N=4.
var whyMissed = map[string]string{
	"pool-pty": "Why: per request the pool does what the bare loop does (set deadlines, write, read) and more: " +
		"a non-blocking read before each request to catch output the helper wrote while idle (one more syscall; " +
		"6% of the CPU samples), a `context.AfterFunc` so a caller who gives up interrupts the read, locked " +
		"checkout and release, and a password-redaction entry: 12 allocations and about 750 B per request " +
		"(`go test -bench Do ./pool`). On two CPUs shared with the helpers, every extra syscall and wake-up is " +
		"taken from the helpers. The bare loop also pins worker i to helper i, so each pair settles on one CPU " +
		"(same-CPU round trip ~2 µs, cross-CPU 60-75 µs, NOTES §4); the pool gives the longest-idle helper to " +
		"whichever caller comes. A LIFO idle list was tried and made no difference outside the noise. The timer " +
		"that bounds a wait for a helper is now made only when a caller has to wait, and a context that can " +
		"never end gets no watcher (15 to 10 allocations for such callers); left: the redaction entry's " +
		"allocation.",
	"pool-pipe": "Why: the same per-request costs as over pty weigh more here, because a pipe round trip is " +
		"cheaper (the bare loop reaches 4-8× the pty throughput), so the pool's fixed CPU cost per request " +
		"(an extra read syscall to catch output written while idle, a context watcher, 12 allocations) is a larger share; on 2 CPUs the " +
		"bare pipe loop already keeps both CPUs busy, so any CPU the pool spends is throughput lost. " +
		"Run-to-run spread of the bare pipe loop itself is ±30% on this machine.",
	"daemon": "Why: over the socket each request costs two more hops (client to daemon and back: a write and a " +
		"read on each side) and the load generator runs on the same 2 CPUs as the daemon and the helpers; " +
		"57% of the daemon's CPU samples are in syscalls. In blocking mode the server's Submit starts a " +
		"goroutine per request and the per-connection writer waits on a channel per answer. With 2 CPUs the " +
		"in-process pool (no sockets, no second process) cannot be matched within 0.8×; on a machine with " +
		"spare cores for the client the ratio is a fair test.",
	"p99": "Why: at half of peak load on 2 CPUs, p99 is dominated by scheduling noise: the load generator, the " +
		"pool's goroutines and 4 helper processes share two CPUs, and a run is in one of two modes (helper and " +
		"caller on the same CPU or not) for its whole length. The pacing thread itself is late by up to a few " +
		"milliseconds at times (measured: up to 0.5% of requests over 1 ms late), which both sides " +
		"suffer alike. The pool's extra work per request (see above) lengthens each exchange by a few " +
		"microseconds, which at this load raises the chance of queueing behind another request.",
}

// analysis is printed after the targets.
const analysis = `How to read this: ratios compare configurations measured minutes apart in one run; ` +
	`absolute numbers move ±30% between runs on this shared 2-CPU machine (NOTES §4: results are ` +
	`bimodal run to run). "bare loop" is ` + "`authpool bench --bare`" + `: the same helpers, started the ` +
	`same way (raw pty or pipes), each driven by one goroutine that writes a request and reads the answer, ` +
	`with no pool. Go benchmarks: ` + "`go test -run '^$' -bench . ./framing ./pool ./server`" + `.`
