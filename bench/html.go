package bench

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"html"
	"io"
	"math"
	"strconv"
	"strings"
)

// WriteHTML writes one self-contained HTML page charting reps, overlaid:
// throughput, and p50, p99 and p99.9 latency over time; the latency
// distribution by percentile, on log scales; and each run's outcomes over
// time. The charts are inline SVG; the page loads nothing and runs no
// script, and its Content-Security-Policy forbids both, so it opens the
// same anywhere, offline included.
func WriteHTML(w io.Writer, reps []*Report) error {
	var b strings.Builder
	sum := sha256.Sum256([]byte(pageStyle))
	csp := "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	fmt.Fprintf(&b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta http-equiv=\"Content-Security-Policy\" content=\"%s\">\n", csp)
	b.WriteString("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>authpool bench report</title>\n<style>")
	b.WriteString(pageStyle)
	b.WriteString("</style>\n</head>\n<body>\n<h1>authpool bench report</h1>\n")
	names := make([]string, len(reps))
	for i, r := range reps {
		names[i] = runName(i, r)
	}
	writeSummary(&b, reps, names)

	var tput, lat, dist []series
	var marks []mark
	for i, r := range reps {
		cls := fmt.Sprintf("r%d", i%6)
		if r.Timeline != nil {
			var t, off, p50, p99, p999 [][2]float64
			for _, p := range r.Timeline.Points {
				mid := p.At + r.Timeline.SlotSeconds/2
				t = append(t, [2]float64{mid, p.Throughput})
				if p.Offered > 0 {
					off = append(off, [2]float64{mid, p.Offered})
				}
				p50 = append(p50, [2]float64{mid, p.P50})
				p99 = append(p99, [2]float64{mid, p.P99})
				p999 = append(p999, [2]float64{mid, p.P999})
			}
			tput = append(tput, series{names[i] + " answers/s", cls, t})
			if len(off) > 0 {
				tput = append(tput, series{names[i] + " offered", cls + " offered", off})
			}
			lat = append(lat,
				series{names[i] + " p50", cls + " p50", p50},
				series{names[i] + " p99", cls, p99},
				series{names[i] + " p99.9", cls + " p999", p999})
		}
		if bp := r.BreakingPoint; bp != nil && bp.Found {
			marks = append(marks, mark{bp.At, cls, fmt.Sprintf("%s breaks at %.0f/s", names[i], bp.Offered)})
		}
		var d [][2]float64
		for _, p := range r.Distribution {
			if p.Percent >= 100 {
				continue // 1/(1-q) is infinite: the max is in the table
			}
			d = append(d, [2]float64{1 / (1 - p.Percent/100), p.Value})
		}
		dist = append(dist, series{names[i], cls, d})
	}
	secs := axisSpec{label: "seconds from the start", format: func(v float64) string { return trimFloat(v) + "s" }}
	b.WriteString("<h2>Over time</h2>\n")
	b.WriteString(chart("throughput", "Throughput (answers a second, by when they came; dashed: the rate offered)", secs,
		axisSpec{label: "answers/s", format: rateLabel, zero: true}, tput, marks, false))
	b.WriteString(chart("latency", "Latency over time, by when each request was due or sent: p50 (thin), p99, p99.9 (dashed), log scale", secs,
		axisSpec{label: "latency", log: true, format: us}, lat, marks, false))
	b.WriteString("<h2>Latency distribution</h2>\n")
	b.WriteString(chart("distribution", "Latency by percentile, log scales", axisSpec{label: "percentile", log: true, format: percentileLabel},
		axisSpec{label: "latency", log: true, format: us}, dist, nil, false))
	b.WriteString("<h2>Outcomes over time</h2>\n")
	for i, r := range reps {
		if r.Timeline == nil {
			continue
		}
		var areas []series
		for o := Outcome(0); o < numOutcomes; o++ {
			var pts [][2]float64
			var any bool
			for _, p := range r.Timeline.Points {
				c := p.Outcomes.counts()
				span := r.Timeline.SlotSeconds
				pts = append(pts, [2]float64{p.At + span/2, float64(c[o]) / span})
				any = any || c[o] > 0
			}
			if any {
				areas = append(areas, series{o.String(), "o-" + o.String(), pts})
			}
		}
		b.WriteString(chart(fmt.Sprintf("outcomes-%d", i), names[i]+": requests a second by outcome (stacked)", secs,
			axisSpec{label: "requests/s", format: rateLabel, zero: true}, areas, nil, true))
	}
	b.WriteString("</body>\n</html>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

const pageStyle = `
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em auto;max-width:1000px;color:#222;padding:0 1em}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse;font-size:12px;margin:.5em 0}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:right;vertical-align:top}
th{background:#f4f4f4}td.l,th.l{text-align:left}
figure{margin:1em 0}figcaption{font-weight:600;margin-bottom:.3em}
svg.chart{width:100%;height:auto;background:#fff;border:1px solid #ddd}
.grid{stroke:#eee;stroke-width:1}.axis{stroke:#888;stroke-width:1}
text{font:11px system-ui,sans-serif;fill:#444}
.series{fill:none;stroke-width:1.6;stroke-linejoin:round}
.p50{stroke-width:.9}.p999{stroke-dasharray:5 3}.offered{stroke-dasharray:2 3;stroke-width:1.2}
.mark{stroke-width:1;stroke-dasharray:6 3}
.r0{stroke:#1f77b4;fill:#1f77b4}.r1{stroke:#d62728;fill:#d62728}.r2{stroke:#2ca02c;fill:#2ca02c}
.r3{stroke:#9467bd;fill:#9467bd}.r4{stroke:#ff7f0e;fill:#ff7f0e}.r5{stroke:#8c564b;fill:#8c564b}
.series.r0,.series.r1,.series.r2,.series.r3,.series.r4,.series.r5{fill:none}
.area{stroke:none;opacity:.85}
.o-ok{fill:#2ca02c}.o-rejected{fill:#1f77b4}.o-false_accept{fill:#d62728}.o-false_reject{fill:#ff9896}
.o-timeout{fill:#ff7f0e}.o-unavailable{fill:#9467bd}.o-overloaded{fill:#8c564b}.o-connection{fill:#e377c2}.o-other{fill:#7f7f7f}
.bad{color:#b00;font-weight:600}
`

func runName(i int, r *Report) string {
	if r.Label != "" {
		return r.Label
	}
	return fmt.Sprintf("run %d (%s)", i+1, r.Target)
}

func writeSummary(b *strings.Builder, reps []*Report, names []string) {
	b.WriteString("<table>\n<tr><th class=\"l\">run</th><th class=\"l\">target and load</th><th>requests</th><th>answers/s</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th><th class=\"l\">outcomes</th><th class=\"l\">breaking point</th><th class=\"l\">thresholds</th></tr>\n")
	e := html.EscapeString
	for i, r := range reps {
		load := r.Load.Mode + " loop, " + strconv.Itoa(r.Load.Concurrency) + " concurrent"
		if r.Load.Mode == "open" {
			rate := trimFloat(r.Load.Rate) + "/s"
			if r.Load.Shape != "" {
				rate = r.Load.Shape
			}
			load = "open loop at " + rate + ", up to " + strconv.Itoa(r.Load.Concurrency) + " concurrent"
		}
		out := e(r.Outcomes.String())
		if r.Wrong > 0 {
			out = "<span class=\"bad\">" + out + "</span>"
		}
		bp := "–"
		if p := r.BreakingPoint; p != nil {
			if p.Found {
				bp = e(fmt.Sprintf("%.0f/s offered, %.1fs in: %s", p.Offered, p.At, p.Reason))
			} else {
				bp = e(fmt.Sprintf("none up to %.0f/s", p.MaxOffered))
			}
		}
		var th []string
		for _, t := range r.Thresholds {
			v := e(t.Spec + ": ok (" + t.Got + ")")
			if !t.Pass {
				v = "<span class=\"bad\">" + e(t.Spec+": FAILED ("+t.Got+")") + "</span>"
			}
			th = append(th, v)
		}
		l := r.Latency
		fmt.Fprintf(b, "<tr><td class=\"l\">%s</td><td class=\"l\">%s<br>%s<br>%s</td><td>%d</td><td>%.0f</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td class=\"l\">%s</td><td class=\"l\">%s</td><td class=\"l\">%s</td></tr>\n",
			e(names[i]), e(r.Description), e(r.Workload), e(load), r.Requests, r.Throughput,
			us(l.P50), us(l.P90), us(l.P99), us(l.P999), us(l.Max), out, bp, strings.Join(th, "<br>"))
	}
	b.WriteString("</table>\n")
}

type series struct {
	name, class string
	pts         [][2]float64
}

type mark struct {
	x           float64
	class, text string
}

type axisSpec struct {
	label  string
	log    bool
	zero   bool // a linear axis starts at zero
	format func(float64) string
}

const (
	chartW, chartH         = 900.0, 320.0
	padL, padR, padT, padB = 70.0, 20.0, 20.0, 40.0
	legendRowH             = 14.0
)

// chart draws series as an SVG line chart, or as stacked areas.
func chart(id, title string, xs, ys axisSpec, ss []series, marks []mark, stacked bool) string {
	if stacked {
		// Each series on top of those before it.
		base := map[float64]float64{}
		for i := range ss {
			pts := make([][2]float64, len(ss[i].pts))
			for j, p := range ss[i].pts {
				pts[j] = [2]float64{p[0], base[p[0]] + p[1]}
				base[p[0]] = pts[j][1]
			}
			ss[i].pts = pts
		}
	}
	var xv, yv []float64
	for _, s := range ss {
		for _, p := range s.pts {
			if usable(xs, p[0]) && usable(ys, p[1]) {
				xv, yv = append(xv, p[0]), append(yv, p[1])
			}
		}
	}
	x, y := newScale(xs, xv, padL, chartW-padR), newScale(ys, yv, chartH-padB, padT+legendRowH*float64((len(ss)+2)/3))
	var b strings.Builder
	e := html.EscapeString
	fmt.Fprintf(&b, "<figure>\n<figcaption>%s</figcaption>\n<svg class=\"chart\" id=\"%s\" viewBox=\"0 0 %.0f %.0f\" role=\"img\" aria-label=\"%s\" xmlns=\"http://www.w3.org/2000/svg\">\n",
		e(title), e(id), chartW, chartH, e(title))
	for _, t := range x.ticks() {
		px := x.at(t)
		fmt.Fprintf(&b, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/><text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
			px, padT, px, chartH-padB, px, chartH-padB+14, e(xs.format(t)))
	}
	for _, t := range y.ticks() {
		py := y.at(t)
		fmt.Fprintf(&b, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/><text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
			padL, py, chartW-padR, py, padL-4, py+4, e(ys.format(t)))
	}
	fmt.Fprintf(&b, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/><line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n",
		padL, chartH-padB, chartW-padR, chartH-padB, padL, padT, padL, chartH-padB)
	fmt.Fprintf(&b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", (padL+chartW-padR)/2, chartH-6, e(xs.label))
	fmt.Fprintf(&b, "<text x=\"14\" y=\"%.1f\" text-anchor=\"middle\" transform=\"rotate(-90 14 %.1f)\">%s</text>\n", (padT+chartH-padB)/2, (padT+chartH-padB)/2, e(ys.label))
	// Stacked areas are drawn top first, so each lower one shows over it.
	order := make([]int, len(ss))
	for i := range ss {
		order[i] = i
		if stacked {
			order[i] = len(ss) - 1 - i
		}
	}
	for _, i := range order {
		s := ss[i]
		var d strings.Builder
		pen := false
		var first, last float64
		n := 0
		for _, p := range s.pts {
			if !usable(xs, p[0]) || !usable(ys, p[1]) {
				pen = false
				continue
			}
			cmd := "L"
			if !pen {
				cmd = "M"
				if stacked && n > 0 {
					cmd = "L"
				}
			}
			if n == 0 {
				first = x.at(p[0])
			}
			last = x.at(p[0])
			fmt.Fprintf(&d, "%s%.1f %.1f", cmd, x.at(p[0]), y.at(p[1]))
			pen = true
			n++
		}
		if n == 0 {
			continue
		}
		cls := "series " + s.class
		if stacked {
			cls = "area " + s.class
			fmt.Fprintf(&d, "L%.1f %.1fL%.1f %.1fZ", last, chartH-padB, first, chartH-padB)
		}
		fmt.Fprintf(&b, "<path class=\"%s\" d=\"%s\"><title>%s</title></path>\n", e(cls), d.String(), e(s.name))
	}
	for _, m := range marks {
		if !usable(xs, m.x) {
			continue
		}
		px := x.at(m.x)
		fmt.Fprintf(&b, "<line class=\"mark %s\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"><title>%s</title></line>\n",
			e(m.class), px, padT, px, chartH-padB, e(m.text))
	}
	for i, s := range ss {
		lx := padL + 10 + float64(i%3)*270
		ly := padT + legendRowH*float64(i/3)
		swatch := "series " + s.class
		if stacked {
			swatch = "area " + s.class
			fmt.Fprintf(&b, "<rect class=\"%s\" x=\"%.1f\" y=\"%.1f\" width=\"18\" height=\"8\"/>", e(swatch), lx, ly-8)
		} else {
			fmt.Fprintf(&b, "<line class=\"%s\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", e(swatch), lx, ly-4, lx+18, ly-4)
		}
		fmt.Fprintf(&b, "<text x=\"%.1f\" y=\"%.1f\">%s</text>\n", lx+24, ly, e(s.name))
	}
	b.WriteString("</svg>\n</figure>\n")
	return b.String()
}

func usable(a axisSpec, v float64) bool {
	return !math.IsNaN(v) && !math.IsInf(v, 0) && (!a.log || v > 0)
}

type scale struct {
	spec     axisSpec
	lo, hi   float64 // data range (log10 of it on a log axis)
	from, to float64 // pixels
}

func newScale(a axisSpec, vals []float64, from, to float64) scale {
	s := scale{spec: a, from: from, to: to}
	first := true
	for _, v := range vals {
		if a.log {
			v = math.Log10(v)
		}
		if first || v < s.lo {
			s.lo = v
		}
		if first || v > s.hi {
			s.hi = v
		}
		first = false
	}
	switch {
	case first:
		s.lo, s.hi = 0, 1
	case a.log:
		s.lo, s.hi = math.Floor(s.lo), math.Ceil(s.hi)
	case a.zero:
		s.lo = min(s.lo, 0)
	}
	if s.hi <= s.lo {
		s.hi = s.lo + 1
	}
	if !a.log {
		step := niceStep((s.hi - s.lo) / 5)
		s.hi = math.Ceil(s.hi/step) * step
		s.lo = math.Floor(s.lo/step) * step
	}
	return s
}

func (s scale) at(v float64) float64 {
	if s.spec.log {
		v = math.Log10(v)
	}
	return s.from + (v-s.lo)/(s.hi-s.lo)*(s.to-s.from)
}

func (s scale) ticks() []float64 {
	var out []float64
	if s.spec.log {
		for e := s.lo; e <= s.hi+1e-9; e++ {
			out = append(out, math.Pow(10, e))
		}
		return out
	}
	step := niceStep((s.hi - s.lo) / 5)
	for v := s.lo; v <= s.hi+step/1e6; v += step {
		out = append(out, v)
	}
	return out
}

// niceStep is the 1, 2 or 5 times a power of ten nearest above d.
func niceStep(d float64) float64 {
	if d <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(d)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= d {
			return m * p
		}
	}
	return 10 * p
}

func trimFloat(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func rateLabel(v float64) string {
	switch {
	case v >= 1e6:
		return trimFloat(v/1e6) + "M"
	case v >= 1e3:
		return trimFloat(v/1e3) + "k"
	}
	return trimFloat(math.Round(v*100) / 100)
}

// percentileLabel names the point 1/(1-q) of a percentile axis: 10 is
// 90%, 1000 is 99.9%.
func percentileLabel(v float64) string {
	return trimFloat(math.Round((1-1/v)*1e6)/1e4) + "%"
}
