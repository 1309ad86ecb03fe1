package bench

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// A record is a run's every request, one JSON object a line, so that the
// run can be reported again later, merged with the records of other
// machines, charted and compared. Lines, in this order (all times are
// nanoseconds from the header's start):
//
//	{"authpool_bench_record":1,"start":"RFC 3339","label":...,"target":...,"description":...,"workload":...,"load":{...},"break":{...}}
//	{"phase":"warmup","t":0}                       when a phase begins
//	{"n":1,"t":T,"lat":L,"op":"auth","user":"alice","server":"example.com","expect":"yes","got":"yes","outcome":"ok"}
//	{"n":2,...,"error":"timeout","outcome":"timeout"}  a request that got no answer
//	{"phase":"measure","t":T}
//	...
//	{"end":T,"report":{...}}                        the live report's summary
//
// n is the request's number in its phase, t when it was due (open loop)
// or sent, lat its latency; "warmup":true marks the warmup's requests;
// "expect" is missing for an unchecked request. A record names users and
// servers but never holds a password: no line has a field for one.
const recordVersion = 1

// recordBatch is how many bytes of lines a recorder gathers before it
// writes them.
const recordBatch = 32 << 10

// RecordWriter writes a run's record. Its methods are safe for concurrent
// use; the first write error stops all writing and is returned by Finish.
type RecordWriter struct {
	mu  sync.Mutex
	w   *bufio.Writer
	err error
	t0  time.Time
	set bool // t0 is set
}

// NewRecordWriter returns a writer of a record to w.
func NewRecordWriter(w io.Writer) *RecordWriter {
	return &RecordWriter{w: bufio.NewWriterSize(w, 256<<10)}
}

// recordHeader is the first line of a record.
type recordHeader struct {
	Version     int         `json:"authpool_bench_record"`
	Start       time.Time   `json:"start"`
	Label       string      `json:"label,omitempty"`
	Target      string      `json:"target"`
	Description string      `json:"description"`
	Workload    string      `json:"workload"`
	Load        Load        `json:"load"`
	Break       *breakLines `json:"break,omitempty"`
}

// breakLines is BreakLines as recorded: p99 in ns, errors as a fraction.
type breakLines struct {
	P99    int64   `json:"p99_ns,omitempty"`
	Errors float64 `json:"errors,omitempty"`
}

func (rw *RecordWriter) header(rep *Report, lines BreakLines) {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	rw.t0, rw.set = time.Now(), true
	h := recordHeader{
		Version: recordVersion, Start: rw.t0, Label: rep.Label, Target: rep.Target,
		Description: rep.Description, Workload: rep.Workload, Load: rep.Load,
	}
	if lines != (BreakLines{}) {
		h.Break = &breakLines{P99: int64(lines.P99), Errors: lines.Errors}
	}
	rw.writeJSON(h)
}

func (rw *RecordWriter) phaseStart(name string, at time.Time) {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	rw.writeJSON(struct {
		Phase string `json:"phase"`
		T     int64  `json:"t"`
	}{name, int64(at.Sub(rw.t0))})
}

// writeJSON writes v as a line. rw.mu is held.
func (rw *RecordWriter) writeJSON(v any) {
	if rw.err != nil {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		rw.err = err
		return
	}
	b = append(b, '\n')
	_, rw.err = rw.w.Write(b)
}

// write writes whole lines.
func (rw *RecordWriter) write(lines []byte) {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	if rw.err == nil {
		_, rw.err = rw.w.Write(lines)
	}
}

// Finish writes the last line, with rep's summary, and flushes. It
// returns the first error of any write.
func (rw *RecordWriter) Finish(rep *Report) error {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	sum := *rep
	sum.Timeline, sum.Distribution, sum.Rounds, sum.BreakingPoint, sum.Thresholds = nil, nil, nil, nil, nil
	sum.WrongSamples = sum.WrongExamples
	end := time.Now()
	switch {
	case rep.span > 0 && !rep.Start.IsZero():
		end = rep.Start.Add(rep.span)
	case rep.Seconds > 0 && !rep.Start.IsZero():
		end = rep.Start.Add(time.Duration(rep.Seconds * float64(time.Second)))
	}
	rw.writeJSON(struct {
		End    int64   `json:"end"`
		Report *Report `json:"report"`
	}{int64(end.Sub(rw.t0)), &sum})
	if rw.err == nil {
		rw.err = rw.w.Flush()
	}
	return rw.err
}

// appendRecordLine appends one request's line.
func appendRecordLine(b []byte, rw *RecordWriter, n int64, warmup bool, t time.Time, lat time.Duration, it Item, yes bool, o Outcome, kind string) []byte {
	b = append(b, `{"n":`...)
	b = strconv.AppendInt(b, n, 10)
	if warmup {
		b = append(b, `,"warmup":true`...)
	}
	b = append(b, `,"t":`...)
	b = strconv.AppendInt(b, int64(t.Sub(rw.t0)), 10)
	b = append(b, `,"lat":`...)
	b = strconv.AppendInt(b, int64(lat), 10)
	b = append(b, `,"op":`...)
	b = appendJSONString(b, it.Req.Op.String())
	b = append(b, `,"user":`...)
	b = appendJSONString(b, it.Req.User)
	b = append(b, `,"server":`...)
	b = appendJSONString(b, it.Req.Server)
	switch it.Expect {
	case ExpectYes:
		b = append(b, `,"expect":"yes"`...)
	case ExpectNo:
		b = append(b, `,"expect":"no"`...)
	}
	if o.Answered() {
		b = append(b, `,"got":"`...)
		b = append(b, yesNo(yes)...)
		b = append(b, '"')
	} else {
		b = append(b, `,"error":`...)
		b = appendJSONString(b, kind)
	}
	b = append(b, `,"outcome":"`...)
	b = append(b, o.String()...)
	return append(b, "\"}\n"...)
}

// appendJSONString appends s as a JSON string, as encoding/json would
// (invalid UTF-8 becomes U+FFFD).
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// CreateOutput creates (or truncates) the file at path for a report or a
// record, with mode perm for a new file. It refuses a file another user
// owns, which could be read by them (a file planted in a shared /tmp), and
// narrows an existing file of ours to perm.
func CreateOutput(path string, perm os.FileMode) (*os.File, error) {
	// Not O_TRUNC: a file that is not ours is refused untouched.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, perm)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*os.File, error) {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return fail(err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return f, nil // a pipe, /dev/null, a terminal: nothing to keep
	}
	if int(st.Uid) != os.Geteuid() {
		return fail(fmt.Errorf("%w (uid %d): refusing to write there", ErrNotOwned, st.Uid))
	}
	if os.FileMode(st.Mode)&os.ModePerm&^perm != 0 {
		if err := f.Chmod(perm); err != nil {
			return fail(err)
		}
	}
	if err := f.Truncate(0); err != nil {
		return fail(err)
	}
	return f, nil
}

// ErrNotOwned is CreateOutput's refusal of a file another user owns.
var ErrNotOwned = errors.New("the file belongs to another user")
