package bench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/authpool/authpool/framing"
)

// ErrNotRecord is returned for a file that is not a bench record.
var ErrNotRecord = errors.New("not an authpool bench record")

// ReadOptions says how ReadRecords groups files into runs and where the
// breaking point's lines are.
type ReadOptions struct {
	// By default, files with the same label whose measured phases overlap
	// in time are one run measured from several machines, and are merged;
	// Merge merges every file into one run, Separate none.
	Merge, Separate bool
	// Break, when not zero, replaces the lines the runs were recorded
	// with.
	Break BreakLines
}

// maxRecordLine bounds a line of a record.
const maxRecordLine = 1 << 20

// recordFile is one record, read.
type recordFile struct {
	path    string
	header  recordHeader
	start   time.Time     // of the measured phase
	span    time.Duration // of the measured phase
	rec     *recorder
	tl      *timeline
	warm    counts
	warmEx  []string
	summary *Report // the last line's; nil if the run was cut short
}

// ReadRecords reads records and reports each run they hold: one report a
// run, in the order the runs began.
func ReadRecords(paths []string, opt ReadOptions) ([]*Report, error) {
	var files []*recordFile
	for _, p := range paths {
		f, err := readRecordFile(p)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	var out []*Report
	for _, g := range groupRecords(files, opt) {
		rep, err := mergeRecords(g, opt)
		if err != nil {
			return nil, err
		}
		out = append(out, rep)
	}
	return out, nil
}

// groupRecords sorts files into runs.
func groupRecords(files []*recordFile, opt ReadOptions) [][]*recordFile {
	slices.SortStableFunc(files, func(a, b *recordFile) int { return a.start.Compare(b.start) })
	var groups [][]*recordFile
	if opt.Merge {
		return append(groups, files)
	}
	ends := map[int]time.Time{}
next:
	for _, f := range files {
		if !opt.Separate {
			for i, g := range groups {
				if g[0].header.Label == f.header.Label && f.start.Before(ends[i]) {
					groups[i] = append(g, f)
					if e := f.start.Add(f.span); e.After(ends[i]) {
						ends[i] = e
					}
					continue next
				}
			}
		}
		ends[len(groups)] = f.start.Add(f.span)
		groups = append(groups, []*recordFile{f})
	}
	return groups
}

// recordLine is any line of a record.
type recordLine struct {
	Version *int `json:"authpool_bench_record"`

	Phase string `json:"phase"`

	N       int64   `json:"n"`
	Warmup  bool    `json:"warmup"`
	T       *int64  `json:"t"`
	Lat     int64   `json:"lat"`
	Op      string  `json:"op"`
	User    string  `json:"user"`
	Server  string  `json:"server"`
	Expect  string  `json:"expect"`
	Got     string  `json:"got"`
	Error   string  `json:"error"`
	Outcome string  `json:"outcome"`
	End     *int64  `json:"end"`
	Report  *Report `json:"report"`
}

// maxOffset bounds a time in a record (30 days), so that a damaged file
// cannot make the timeline span centuries.
const maxOffset = int64(30 * 24 * time.Hour)

func readRecordFile(path string) (*recordFile, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	f := &recordFile{path: path, rec: newRecorder(), tl: newTimeline()}
	br := bufio.NewReaderSize(fh, 256<<10)
	var measureAt int64
	var measureSeen bool
	var last int64 // latest t+lat of the measured phase
	for ln := 1; ; ln++ {
		line, err := readLine(br)
		if err == io.EOF {
			if ln == 1 {
				return nil, fmt.Errorf("%s: empty: %w", path, ErrNotRecord)
			}
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, ln, err)
		}
		bad := func(why string) error { return fmt.Errorf("%s:%d: %s", path, ln, why) }
		if ln == 1 {
			if err := json.Unmarshal(line, &f.header); err != nil || f.header.Version != recordVersion {
				return nil, fmt.Errorf("%s: %w (its first line is not a version %d header)", path, ErrNotRecord, recordVersion)
			}
			continue
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var l recordLine
		if err := json.Unmarshal(line, &l); err != nil {
			return nil, bad("not JSON: " + err.Error())
		}
		switch {
		case l.Report != nil:
			f.summary = l.Report
			if l.End != nil {
				last = *l.End
			}
		case l.Phase != "":
			if l.T == nil || *l.T < 0 || *l.T > maxOffset {
				return nil, bad("phase without a time in range")
			}
			if l.Phase == "measure" {
				measureAt, measureSeen = *l.T, true
			}
		case l.Outcome != "":
			o, ok := ParseOutcome(l.Outcome)
			switch {
			case !ok:
				return nil, bad(fmt.Sprintf("unknown outcome %q", l.Outcome))
			case l.T == nil || *l.T < 0 || *l.T > maxOffset || l.Lat < 0 || l.Lat > maxOffset:
				return nil, bad("time or latency out of range")
			}
			exp := Unchecked
			switch l.Expect {
			case "yes":
				exp = ExpectYes
			case "no":
				exp = ExpectNo
			}
			op, _ := framing.ParseOp(l.Op)
			example := func() string {
				// As Request.String has it; the record has no password.
				req := framing.Request{Op: op, User: l.User, Server: l.Server, Password: "x"}
				yes := o == OutcomeFalseAccept
				return fmt.Sprintf("%s: answered %s, expected %s", req, yesNo(yes), yesNo(!yes))
			}
			lat := time.Duration(l.Lat)
			if l.Warmup {
				f.warm[o]++
				if o.Wrong() && len(f.warmEx) < maxExamples {
					f.warmEx = append(f.warmEx, example())
				}
				continue
			}
			f.rec.count(o, l.Error, exp != Unchecked, lat, example)
			f.tl.add(time.Duration(*l.T-measureAt), lat, o)
			last = max(last, *l.T+l.Lat)
		}
	}
	if !measureSeen && f.summary == nil && f.rec.counts.total() == 0 {
		return nil, fmt.Errorf("%s: no measured phase", path)
	}
	f.start = f.header.Start.Add(time.Duration(measureAt))
	f.span = max(time.Duration(last-measureAt), 0)
	return f, nil
}

// readLine reads a line without its end, refusing lines over
// maxRecordLine.
func readLine(br *bufio.Reader) ([]byte, error) {
	var out []byte
	for {
		chunk, err := br.ReadSlice('\n')
		out = append(out, chunk...)
		if len(out) > maxRecordLine {
			return nil, fmt.Errorf("a line over %d bytes", maxRecordLine)
		}
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF && len(out) > 0:
			return out, nil
		case err != nil:
			return nil, err
		}
		return bytes.TrimSuffix(out, []byte{'\n'}), nil
	}
}

// mergeRecords reports the run that files hold together.
func mergeRecords(files []*recordFile, opt ReadOptions) (*Report, error) {
	first := files[0]
	h := first.header
	rep := &Report{
		Label: h.Label, Target: h.Target, Description: h.Description, Workload: h.Workload,
		Load: h.Load, Start: first.start, ErrorKinds: map[string]int64{},
	}
	tl := newTimeline()
	var recs []*recorder
	var span time.Duration
	sameShape := true
	for i, f := range files {
		rep.Sources = append(rep.Sources, f.path)
		shift := f.start.Sub(first.start)
		span = max(span, shift+f.span)
		recs = append(recs, f.rec)
		f.tl.mu.Lock()
		w := time.Duration(f.tl.width.Load())
		for j, s := range f.tl.slots {
			tl.mu.Lock()
			tl.at(shift + time.Duration(j)*w).merge(s)
			tl.mu.Unlock()
		}
		f.tl.mu.Unlock()
		rep.WarmupRequests += f.warm.total()
		rep.WarmupErrors += f.warm.errors()
		rep.WarmupWrong += f.warm[OutcomeFalseAccept] + f.warm[OutcomeFalseReject]
		rep.WrongExamples = append(rep.WrongExamples, f.warmEx...)
		if s := f.summary; s != nil {
			rep.Helpers = append(rep.Helpers, s.Helpers...)
			rep.HelpersReplaced += s.HelpersReplaced
			rep.Leaking = rep.Leaking || s.Leaking
			if i == 0 {
				rep.Pool, rep.Spawn, rep.Daemon, rep.Notes = s.Pool, s.Spawn, s.Daemon, s.Notes
			}
		} else {
			rep.Notes = append(rep.Notes, f.path+": the run was cut short (no summary line)")
		}
		if i > 0 {
			rep.Load.Concurrency += f.header.Load.Concurrency
			rep.Load.Connections += f.header.Load.Connections
			rep.Load.Rate += f.header.Load.Rate
			sameShape = sameShape && f.header.Load.Shape == h.Load.Shape && f.header.Load.Mode == h.Load.Mode
		}
	}
	if len(files) > 1 {
		rep.Description = fmt.Sprintf("%d records merged; the first: %s", len(files), h.Description)
	}
	lines := opt.Break
	if lines == (BreakLines{}) && h.Break != nil {
		lines = BreakLines{P99: time.Duration(h.Break.P99), Errors: h.Break.Errors}
	}
	var shape *Shape
	if h.Load.Mode == "open" && sameShape {
		spec := h.Load.Shape
		if spec == "" {
			spec = strconv.FormatFloat(h.Load.Rate, 'f', -1, 64)
		}
		s, err := ParseShape(spec)
		if err != nil {
			return nil, fmt.Errorf("%s: the recorded rate: %w", first.path, err)
		}
		shape = s.scaled(float64(len(files)))
	}
	summarize(rep, recs, tl, span, shape, lines)
	return rep, nil
}

// scaled is s with every rate times k: the load of k machines running s.
func (s *Shape) scaled(k float64) *Shape {
	if k == 1 {
		return s
	}
	out := &Shape{spec: fmt.Sprintf("%s (×%g)", s.spec, k)}
	for _, st := range s.Stages {
		out.Stages = append(out.Stages, Stage{st.From * k, st.To * k, st.Dur})
	}
	return out
}

// isRecord reports whether the file at path starts as a record does.
func isRecord(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	b := make([]byte, 64)
	n, _ := io.ReadFull(f, b)
	return bytes.HasPrefix(b[:n], []byte(`{"authpool_bench_record":`))
}

// maxReportSize bounds a JSON report read back.
const maxReportSize = 64 << 20

func readJSONReport(path string) (*Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r Report
	dec := json.NewDecoder(io.LimitReader(f, maxReportSize))
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("%s: neither a record nor a JSON report of authpool bench: %w", path, err)
	}
	if r.Target == "" && r.Requests == 0 {
		return nil, fmt.Errorf("%s: neither a record nor a JSON report of authpool bench", path)
	}
	if r.ErrorKinds == nil {
		r.ErrorKinds = map[string]int64{}
	}
	r.WrongExamples = r.WrongSamples
	r.Sources = append(r.Sources, path)
	return &r, nil
}
