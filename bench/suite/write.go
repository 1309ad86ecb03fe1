package main

import (
	"fmt"
	"os"
	"strings"
	"time"
)

// target is one of issue 4's goals, judged from this run's numbers.
type target struct {
	id, goal string
	value    string
	met      bool
	measured bool
}

func (s *suite) get(helper, tr string, n int, kind string) *result {
	return s.results[key{helper, tr, n, kind}]
}

func ratio(a, b *result) (float64, bool) {
	if a == nil || b == nil || b.rep.Throughput == 0 {
		return 0, false
	}
	return a.rep.Throughput / b.rep.Throughput, true
}

func (s *suite) targets(helpers []helperSpec, lat []latencyRow) []target {
	const echo = "echo (C)"
	var ts []target
	add := func(t target) { ts = append(ts, t) }

	t1 := target{id: "pool-pty", goal: "In-process pool over pty, C helper, N=4: ≥ 0.9× the bare loop"}
	if r, ok := ratio(s.get(echo, "pty", 4, "pool"), s.get(echo, "pty", 4, "bare")); ok {
		t1.measured, t1.met, t1.value = true, r >= 0.9, fmt.Sprintf("%.2f×", r)
	}
	add(t1)
	t2 := target{id: "pool-pipe", goal: "Pipe transport, C helper, N=4: ≥ 0.7× the bare pipe loop"}
	if r, ok := ratio(s.get(echo, "pipe", 4, "pool"), s.get(echo, "pipe", 4, "bare")); ok {
		t2.measured, t2.met, t2.value = true, r >= 0.7, fmt.Sprintf("%.2f×", r)
	}
	add(t2)

	t3 := target{id: "daemon", goal: fmt.Sprintf("Daemon over the socket, %d client connections: ≥ 0.8× the in-process pool (C helper, N ≥ 4)", daemonConns)}
	var parts []string
	t3.met = true
	for _, tr := range s.o.transports {
		for _, n := range s.o.ns {
			if n < 4 {
				continue
			}
			if r, ok := ratio(s.get(echo, tr, n, "daemon"), s.get(echo, tr, n, "pool")); ok {
				t3.measured = true
				t3.met = t3.met && r >= 0.8
				parts = append(parts, fmt.Sprintf("%s N=%d %.2f×", tr, n, r))
			}
		}
	}
	t3.value = strings.Join(parts, ", ")
	add(t3)

	t4 := target{id: "p99", goal: fmt.Sprintf("p99 latency the pool adds at half the bare loop's peak (open loop, C helper, N=%d): ≤ 100 µs", latencyN)}
	parts = nil
	t4.met = true
	for _, r := range lat {
		if r.helper != echo {
			continue
		}
		d := r.pool.Latency.P99 - r.bare.Latency.P99
		t4.measured = true
		if r.transport == "pty" {
			t4.met = d <= 100
		}
		parts = append(parts, fmt.Sprintf("%s %+.0f µs (bare %.0f, pool %.0f at %.0f/s)", r.transport, d, r.bare.Latency.P99, r.pool.Latency.P99, r.rate))
	}
	t4.value = strings.Join(parts, "; ") + " — judged on pty, the default transport"
	add(t4)

	t5 := target{id: "rss", goal: "Daemon RSS with 16 helpers under load: ≤ 20 MiB"}
	var peak int64
	for _, h := range helpers {
		for _, tr := range s.o.transports {
			if r := s.get(h.name, tr, 16, "daemon"); r != nil && r.rep.Daemon != nil {
				peak = max(peak, r.rep.Daemon.PeakRSS)
			}
		}
	}
	if peak > 0 {
		t5.measured, t5.met = true, peak <= 20<<20
		t5.value = fmt.Sprintf("peak %.1f MiB (VmHWM, highest over the N=16 daemon runs)", float64(peak)/(1<<20))
	}
	add(t5)
	return ts
}

func (s *suite) write(helpers []helperSpec, lat []latencyRow, base []*baselineRow, took time.Duration) error {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("# Benchmarks\n\n")
	p("Written by `make bench` (bench/suite); do not edit by hand. Every number below comes from one run of the suite, so the ratios compare measurements taken minutes apart on the same machine and the same helpers.\n\n")
	p("- Date: %s (the suite took %s)\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), took.Round(time.Second))
	p("- Machine: %s\n", machine())
	p("- Each configuration ran %d times, %s measured after %s of warmup, interleaved with the others; the best throughput counts (noise on a shared machine only ever slows a run down).\n", s.o.reps, s.o.duration, s.o.warmup)
	p("- Workload: `%s` (every answer checked). Closed loop: bare loop and pool with as many workers as helpers; the daemon with %d client connections, one request in flight on each (max(16, N) workers).\n", s.o.credentials, daemonConns)
	p("- Helpers: `%s` (testscripts/echo.c built with cc -O2: the demo users, answers with write(2)) and `%s`.\n\n", s.o.echo, s.o.python)

	p("## Throughput (answers per second)\n\n")
	p("| helper | transport | N | bare loop | pool | daemon | pool / bare | daemon / pool | daemon / bare | p99 bare / pool / daemon (µs) |\n")
	p("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n")
	for _, h := range helpers {
		for _, tr := range s.o.transports {
			for _, n := range s.o.ns {
				bare, pl, d := s.get(h.name, tr, n, "bare"), s.get(h.name, tr, n, "pool"), s.get(h.name, tr, n, "daemon")
				rs := func(a, b *result) string {
					if r, ok := ratio(a, b); ok {
						return fmt.Sprintf("%.2f", r)
					}
					return "–"
				}
				p("| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s / %s / %s |\n", h.name, tr, n,
					tput(bare), tput(pl), tput(d), rs(pl, bare), rs(d, pl), rs(d, bare), p99(bare), p99(pl), p99(d))
			}
		}
	}
	p("\n## Latency at half load (open loop)\n\n")
	p("Rate fixed at half the bare loop's peak at N=%d (the lowest of its closed-loop runs); latency measured from each request's due time (no coordinated omission); of %d interleaved runs, the lowest p99 of each side counts.\n\n", latencyN, s.o.reps)
	p("| helper | transport | rate/s | bare p50 / p99 / p99.9 (µs) | pool p50 / p99 / p99.9 (µs) | p99 added |\n| --- | --- | ---: | --- | --- | ---: |\n")
	for _, r := range lat {
		bl, pl := r.bare.Latency, r.pool.Latency
		p("| %s | %s | %.0f | %.0f / %.0f / %.0f | %.0f / %.0f / %.0f | %+.0f µs |\n", r.helper, r.transport, r.rate,
			bl.P50, bl.P99, bl.P999, pl.P50, pl.P99, pl.P999, pl.P99-bl.P99)
	}

	p("\n## Daemon memory\n\n| helper | transport | N | daemon RSS at end | daemon peak RSS (VmHWM) | helpers' peak RSS (largest) |\n| --- | --- | ---: | ---: | ---: | ---: |\n")
	for _, h := range helpers {
		for _, tr := range s.o.transports {
			for _, n := range s.o.ns {
				r := s.get(h.name, tr, n, "daemon")
				if r == nil || r.rep.Daemon == nil {
					continue
				}
				var hp int64
				for _, x := range r.rep.Helpers {
					hp = max(hp, x.PeakRSS)
				}
				p("| %s | %s | %d | %s | %s | %s |\n", h.name, tr, n, mib(r.rep.Daemon.RSS), mib(r.rep.Daemon.PeakRSS), mib(hp))
			}
		}
	}

	p("\n## Targets (issue 4)\n\n")
	for _, t := range s.targets(helpers, lat) {
		verdict := "**met**"
		switch {
		case !t.measured:
			verdict = "not measured"
		case !t.met:
			verdict = "**missed**"
		}
		p("- %s: %s — %s.\n", t.goal, verdict, t.value)
		if t.measured && !t.met {
			if why := whyMissed(t.id); why != "" {
				p("  %s\n", why)
			}
		}
	}
	if analysis != "" {
		p("\n%s\n", analysis)
	}
	if len(base) > 0 {
		p("\n## Against minimal baselines (issue 13)\n\n")
		p("%d C echo helpers over a pty, %d callers (in process) or %d connections (over the socket), %d interleaved rounds (each measures every configuration once, within a minute); a ratio is the median of the rounds' ratios, so that the machine changing speed between rounds does not move it. ", baselineN, baselineCallers, baselineCallers, baselineRounds)
		p("The dispatcher shares the helpers through a channel of idle helpers; the relay is a Unix socket server with one goroutine per connection that hands each line to an idle helper (`bench --dispatcher`, `bench --relay`).\n\n")
		p("| configuration | answers/s (median) | rounds | against | ratio | target |\n| --- | ---: | --- | --- | ---: | --- |\n")
		byKind := map[string]*baselineRow{}
		for _, r := range base {
			byKind[r.kind] = r
		}
		for _, r := range base {
			runs := make([]string, len(r.runs))
			for i, v := range r.runs {
				runs[i] = fmt.Sprintf("%.0f", v)
			}
			against, ratioS, goal := "", "", ""
			if vs := byKind[r.vs]; vs != nil && r.ratioTo(vs) > 0 {
				ratio := r.ratioTo(vs)
				verdict := "**met**"
				if ratio < r.goal {
					verdict = "**missed**"
				}
				against, ratioS, goal = r.vs, fmt.Sprintf("%.2f×", ratio), fmt.Sprintf("≥ %.2f×: %s", r.goal, verdict)
			}
			p("| %s | %.0f | %s | %s | %s | %s |\n", r.kind, r.median(), strings.Join(runs, ", "), against, ratioS, goal)
		}
		p("\nAgainst the same baselines with the pool's check for output written while a helper was idle (one read syscall before each request, `bench --idle-check`), which catches a stray answer before it can be read as the next request's; what remains is the cost of everything else:\n\n")
		p("| configuration | against | ratio |\n| --- | --- | ---: |\n")
		for _, pair := range checkedPairs {
			r, vs := byKind[pair[0]], byKind[pair[1]]
			if r == nil || vs == nil || r.ratioTo(vs) == 0 {
				continue
			}
			p("| %s | %s | %.2f× |\n", r.kind, vs.kind, r.ratioTo(vs))
		}
		if r, ok := ratio(s.get("echo (C)", "pipe", 4, "pool"), s.get("echo (C)", "pipe", 4, "bare")); ok {
			verdict := "**met**"
			if r < 0.8 {
				verdict = "**missed**"
			}
			p("\nPipe transport, C helper, N=4, pool / bare pipe loop (the throughput table above): %.2f×; target ≥ 0.80×: %s.\n", r, verdict)
			if why := whyMissed("pool-pipe"); r < 0.8 && why != "" {
				p("%s\n", why)
			}
		}
	}
	if len(s.notes) > 0 {
		p("\n## Notes from this run\n\n")
		for _, n := range s.notes {
			p("- %s\n", n)
		}
	}
	p("\n## Exact commands\n\nRun from the repository root after `make build bin/echo-helper`. The suite itself: `go run ./bench/suite` (flags: `-h`).\n\n```sh\n")
	for _, k := range s.order {
		p("# %s %s N=%d %s\n%s\n", k.helper, k.transport, k.n, k.kind, s.results[k].cmd)
	}
	p("```\n")
	return os.WriteFile(s.o.out, []byte(b.String()), 0o644)
}

func tput(r *result) string {
	if r == nil {
		return "–"
	}
	return fmt.Sprintf("%.0f", r.rep.Throughput)
}

func p99(r *result) string {
	if r == nil {
		return "–"
	}
	return fmt.Sprintf("%.0f", r.rep.Latency.P99)
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
