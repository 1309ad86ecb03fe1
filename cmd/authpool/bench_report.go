package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/authpool/authpool/bench"
)

// benchOutputs are the files a run or a report writes besides stdout.
type benchOutputs struct {
	record     *os.File
	hgrm, html *os.File
	names      map[*os.File]string
}

// openBenchOutputs creates the files named (none for ""): the record
// private to its owner (it names users), the charts readable by all.
func openBenchOutputs(record, hgrm, html string) (*benchOutputs, error) {
	o := &benchOutputs{names: map[*os.File]string{}}
	for _, x := range []struct {
		path string
		perm os.FileMode
		f    **os.File
	}{{record, 0o600, &o.record}, {hgrm, 0o644, &o.hgrm}, {html, 0o644, &o.html}} {
		if x.path == "" {
			continue
		}
		f, err := bench.CreateOutput(x.path, x.perm)
		if err != nil {
			o.close()
			return nil, err
		}
		*x.f = f
		o.names[f] = x.path
	}
	return o, nil
}

// write writes the HdrHistogram and HTML outputs of reps, and closes
// every file, reporting the first error.
func (o *benchOutputs) write(reps []*bench.Report) error {
	var errs []error
	if o.hgrm != nil {
		if len(reps) != 1 {
			errs = append(errs, fmt.Errorf("--hgrm: %d runs: the distribution is one run's (give --merge, or one run)", len(reps)))
		} else if err := reps[0].WriteHGRM(o.hgrm); err != nil {
			errs = append(errs, fmt.Errorf("writing %s: %w", o.names[o.hgrm], err))
		}
	}
	if o.html != nil {
		if err := bench.WriteHTML(o.html, reps); err != nil {
			errs = append(errs, fmt.Errorf("writing %s: %w", o.names[o.html], err))
		}
	}
	for _, f := range []*os.File{o.record, o.hgrm, o.html} {
		if f != nil {
			if err := f.Close(); err != nil {
				errs = append(errs, fmt.Errorf("writing %s: %w", o.names[f], err))
			}
		}
	}
	o.record, o.hgrm, o.html = nil, nil, nil
	return errors.Join(errs...)
}

func (o *benchOutputs) close() {
	for _, f := range []*os.File{o.record, o.hgrm, o.html} {
		if f != nil {
			f.Close()
		}
	}
}

// parsePercent reads "1%" as 0.01.
func parsePercent(s string) (float64, error) {
	num, ok := strings.CutSuffix(strings.TrimSpace(s), "%")
	v, err := strconv.ParseFloat(num, 64)
	if !ok || err != nil || v < 0 || v > 100 {
		return 0, fmt.Errorf("%q: want a percentage like 1%%", s)
	}
	return v / 100, nil
}

// mixWorkload generates --mix's workload, writing the users file first
// when asked to.
func mixWorkload(f *benchFlags, seed uint64) (*bench.Workload, error) {
	m, err := bench.ParseMix(f.mix)
	if err != nil {
		return nil, err
	}
	if f.users < 1 {
		return nil, errors.New("--users: want at least one")
	}
	var known []bench.User
	switch {
	case f.usersFrom != "":
		fh, err := os.Open(f.usersFrom)
		if err != nil {
			return nil, err
		}
		known, err = bench.ReadUsers(fh, f.usersFrom)
		fh.Close()
		if err != nil {
			return nil, err
		}
	case f.usersFile != "":
		known = bench.GenerateUsers(f.users, seed)
		fh, err := bench.CreateOutput(f.usersFile, 0o600)
		if err != nil {
			return nil, err
		}
		err = bench.WriteUsers(fh, known)
		if cerr := fh.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("writing %s: %w", f.usersFile, err)
		}
	case m.NeedsKnownUsers():
		return nil, fmt.Errorf("--mix %s: %w: give --users-file PATH (written for the helpers, which must read it) or --users-from FILE (a users file the helper reads)", m, bench.ErrNoKnownUsers)
	}
	return bench.GenerateMix(bench.MixConfig{Mix: m, Known: known, Absent: f.users, Repeat: f.repeat, Seed: seed})
}

const benchReportUsage = `usage: authpool bench report [flags] RECORD...

Report again the runs recorded with "authpool bench --record FILE": the
text report, or --json, --html FILE (the runs' charts overlaid), --hgrm FILE.
Records of one run made from several machines at once are merged: files
with the same --label whose measured phases overlap in time are one run
(--merge makes every file one run, --separate none). Exit status as
bench's: 3 when a --threshold is not met.

flags:
`

// newSubcommand is the flag set of "authpool bench NAME", and the
// function that reports an error and gives the exit status for it.
func newSubcommand(name, usage string, stderr io.Writer) (*flag.FlagSet, func(error) int) {
	fs := flag.NewFlagSet("bench "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	return fs, func(err error) int {
		fmt.Fprintf(stderr, "authpool bench %s: %v\n", name, err)
		return 2
	}
}

// parseSubcommand parses a subcommand's flags and returns its arguments;
// when ok is false, the command is to exit with code (0 after -h).
func parseSubcommand(fs *flag.FlagSet, args []string) (rest []string, code int, ok bool) {
	rest, err := parseInterspersed(fs, args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return nil, 0, false
	case err != nil:
		return nil, 2, false
	}
	return rest, 0, true
}

func benchReportCmd(args []string, stdout, stderr io.Writer) int {
	fs, fail := newSubcommand("report", benchReportUsage, stderr)
	var asJSON, merge, separate bool
	var html, hgrm, breakErrors string
	var opt bench.ReadOptions
	var thresholds []bench.Threshold
	fs.BoolVar(&asJSON, "json", false, "write the report as JSON (an array when there are several runs)")
	fs.StringVar(&html, "html", "", "write a self-contained HTML page of charts to this file")
	fs.StringVar(&hgrm, "hgrm", "", "write the latency distribution to this file in HdrHistogram's percentile-distribution format")
	fs.BoolVar(&merge, "merge", false, "merge every record into one run")
	fs.BoolVar(&separate, "separate", false, "report every record as a run of its own")
	fs.DurationVar(&opt.Break.P99, "break-p99", 0, "the p99 line of the breaking point (0: as recorded)")
	fs.StringVar(&breakErrors, "break-errors", "", "the errors line of the breaking point (none: as recorded)")
	fs.Func("threshold", "fail with exit status 3 unless this holds (repeatable; see bench -h)", func(s string) error {
		t, err := bench.ParseThreshold(s)
		if err == nil {
			thresholds = append(thresholds, t)
		}
		return err
	})
	files, code, ok := parseSubcommand(fs, args)
	if !ok {
		return code
	}
	switch {
	case len(files) == 0:
		return fail(errors.New("no record given"))
	case merge && separate:
		return fail(errors.New("--merge or --separate, not both"))
	}
	opt.Merge, opt.Separate = merge, separate
	if breakErrors != "" {
		v, err := parsePercent(breakErrors)
		if err != nil {
			return fail(fmt.Errorf("--break-errors: %w", err))
		}
		opt.Break.Errors = v
	}
	reps, err := bench.ReadRecords(files, opt)
	if err != nil {
		return fail(err)
	}
	outs, err := openBenchOutputs("", hgrm, html)
	if err != nil {
		return fail(err)
	}
	defer outs.close()
	met := true
	for _, r := range reps {
		met = bench.JudgeAll(r, thresholds) && met
	}
	switch {
	case asJSON && len(reps) == 1:
		err = reps[0].WriteJSON(stdout)
	case asJSON:
		for _, r := range reps {
			r.WrongSamples = r.WrongExamples
		}
		err = writeJSONValue(stdout, reps)
	default:
		for i, r := range reps {
			if i > 0 {
				fmt.Fprintln(stdout)
			}
			if err = r.WriteText(stdout); err != nil {
				break
			}
		}
	}
	if err != nil {
		return fail(err)
	}
	if err := outs.write(reps); err != nil {
		return fail(err)
	}
	worst := 0
	for _, r := range reps {
		if code := benchVerdict(r, stderr); code == 1 || (code == 2 && worst == 0) {
			worst = code
		}
	}
	if worst != 0 || met {
		return worst
	}
	for _, r := range reps {
		thresholdsFailed(r, stderr)
	}
	return exitThresholds
}

const benchCompareUsage = `usage: authpool bench compare [--json] A B

Set run B against run A: throughput, latency percentiles, errors and wrong
answers side by side, with the difference, and whether it is larger than
the spread between rounds (the highest minus the lowest value over the
rounds of either side; smaller differences are what a run does by itself).
A and B are each a record (bench --record) or a JSON report (bench --json),
whose rounds are the consecutive fifths of its measured phase; or several
of them joined by commas, runs of the same configuration, each a round,
whose medians are compared.

flags:
`

func benchCompareCmd(args []string, stdout, stderr io.Writer) int {
	fs, fail := newSubcommand("compare", benchCompareUsage, stderr)
	asJSON := fs.Bool("json", false, "write the comparison as JSON")
	runs, code, ok := parseSubcommand(fs, args)
	if !ok {
		return code
	}
	if len(runs) != 2 {
		return fail(errors.New("want two runs, A and B"))
	}
	var sides [2]bench.Side
	for i, arg := range runs {
		reps, err := bench.ReadReports(strings.Split(arg, ","))
		if err != nil {
			return fail(err)
		}
		name := arg
		if len(reps) == 1 && reps[0].Label != "" {
			name = reps[0].Label + " (" + arg + ")"
		}
		sides[i] = bench.Side{Name: name, Reports: reps}
	}
	c := bench.Compare(sides[0], sides[1])
	var err error
	if *asJSON {
		err = c.WriteJSON(stdout)
	} else {
		err = c.WriteText(stdout)
	}
	if err != nil {
		return fail(err)
	}
	return 0
}

// writeJSONValue writes v as indented JSON.
func writeJSONValue(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// parseInterspersed parses flags given before, between or after the
// arguments (everything after "--" is an argument), and returns the
// arguments.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		left := fs.Args()
		if len(left) == 0 {
			return rest, nil
		}
		if i := len(args) - len(left); i > 0 && args[i-1] == "--" {
			return append(rest, left...), nil
		}
		rest = append(rest, left[0])
		args = left[1:]
	}
}
