package bench

import (
	"errors"
	"testing"
)

func TestThresholds(t *testing.T) {
	rep := &Report{
		Requests: 1000, Yes: 600, No: 390, Errors: 10, Wrong: 2, FalseAccepts: 1, FalseRejects: 1, Throughput: 5000,
		Latency:  Latency{P50: 100, P90: 300, P99: 4000, P999: 9000, Max: 20000, Mean: 150},
		Outcomes: Outcomes{OK: 599, Rejected: 389, FalseAccepts: 1, FalseRejects: 1, Timeout: 7, Overloaded: 3},
	}
	tests := []struct {
		spec string
		pass bool
		got  string
	}{
		{"p99<5ms", true, "p99 4.00ms"},
		{"p99 < 4ms", false, "p99 4.00ms"},
		{"p99<=4ms", true, ""},
		{"p99.9<10ms", true, ""},
		{"p999<8ms", false, ""},
		{"p50<150us", true, ""},
		{"p50<150µs", true, ""},
		{"max<1s", true, ""},
		{"mean>=100us", true, ""},
		{"errors<0.1%", false, "errors 10 of 1000, 1%"},
		{"errors<2%", true, ""},
		{"errors<=10", true, ""},
		{"wrong=0", false, "wrong 2"},
		{"wrong==2", true, ""},
		{"false_accepts=0", false, ""},
		{"timeout!=0", true, ""},
		{"overloaded<0.1%", false, "overloaded 3 of 1000, 0.30%"},
		{"throughput>=5000", true, "5000 answers/s"},
		{"rps>6000/s", false, ""},
	}
	for _, tt := range tests {
		th, err := ParseThreshold(tt.spec)
		if err != nil {
			t.Errorf("%s: %v", tt.spec, err)
			continue
		}
		r := th.Judge(rep)
		if r.Pass != tt.pass || (tt.got != "" && r.Got != tt.got) {
			t.Errorf("%s: %+v, want pass %v, got %q", tt.spec, r, tt.pass, tt.got)
		}
	}
	for _, bad := range []string{"", "p99", "p99<", "p99<5", "p99<-1ms", "p98<5ms", "errors<x", "errors<150%", "wrong~0", "<5ms", "throughput>fast"} {
		if _, err := ParseThreshold(bad); !errors.Is(err, ErrThreshold) {
			t.Errorf("%q: error %v, want ErrThreshold", bad, err)
		}
	}
	// Nothing answered meets no latency threshold.
	th, _ := ParseThreshold("p99<5ms")
	if r := th.Judge(&Report{Requests: 10, Errors: 10}); r.Pass {
		t.Errorf("a run that answered nothing met %s: %+v", th.Spec, r)
	}
	ts := []Threshold{th}
	if JudgeAll(rep, ts) != true || len(rep.Thresholds) != 1 {
		t.Errorf("JudgeAll: %+v", rep.Thresholds)
	}
}
