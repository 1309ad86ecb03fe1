package bench

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestParseShape(t *testing.T) {
	tests := []struct {
		spec    string
		want    []Stage
		peak    float64
		length  time.Duration
		wantErr string
	}{
		{spec: "2000", want: []Stage{{2000, 2000, 0}}, peak: 2000},
		{spec: "1000:40000:30s", want: []Stage{{1000, 40000, 30 * time.Second}}, peak: 40000, length: 30 * time.Second},
		{spec: "100:400:4s:4", want: []Stage{{100, 100, time.Second}, {200, 200, time.Second}, {300, 300, time.Second}, {400, 400, time.Second}}, peak: 400, length: 4 * time.Second},
		{spec: "1000@10s, 2000@10s,4000", want: []Stage{{1000, 1000, 10 * time.Second}, {2000, 2000, 10 * time.Second}, {4000, 4000, 0}}, peak: 4000, length: 20 * time.Second},
		{spec: "0:100:1s", want: []Stage{{0, 100, time.Second}}, peak: 100, length: time.Second},
		{spec: "", wantErr: "not a rate"},
		{spec: "-5", wantErr: "not a rate"},
		{spec: "NaN", wantErr: "not a rate"},
		{spec: "1e9", wantErr: "not a rate"},
		{spec: "0", wantErr: "never above zero"},
		{spec: "100,200@1s", wantErr: "must be the last"},
		{spec: "1:2", wantErr: "wrong number of fields"},
		{spec: "1:2:0s", wantErr: "not a positive duration"},
		{spec: "1:2:1s:1", wantErr: "number of steps"},
		{spec: "5@-1s", wantErr: "not a positive duration"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			s, err := ParseShape(tt.spec)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Stages) != len(tt.want) {
				t.Fatalf("stages %+v, want %+v", s.Stages, tt.want)
			}
			for i := range tt.want {
				if s.Stages[i] != tt.want[i] {
					t.Errorf("stage %d %+v, want %+v", i, s.Stages[i], tt.want[i])
				}
			}
			if s.Peak() != tt.peak || s.Length() != tt.length {
				t.Errorf("peak %v length %v, want %v %v", s.Peak(), s.Length(), tt.peak, tt.length)
			}
		})
	}
}

// The due times follow the shape: as many requests in each stretch as the
// rate integrated over it, in order.
func TestShapeDueTimes(t *testing.T) {
	tests := []struct {
		spec string
		n    int           // requests to take
		last time.Duration // due time of the last, about
	}{
		{"1000", 1001, time.Second},
		{"0:1000:2s", 1001, 2 * time.Second},         // ∫ = 1000 over 2s
		{"1000:0:2s", 1000, 1937 * time.Millisecond}, // down to nothing: the last where 250(2-t)² = 1, then none
		{"100@1s,0@1s,100@1s", 201, 3 * time.Second}, // a pause in the middle
		{"100:300:2s:2", 401, 2 * time.Second},       // 100/s for 1s, 300/s for 1s
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			s, err := ParseShape(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			next := s.dueTimes()
			var prev, at time.Duration
			for i := range tt.n {
				d, ok := next()
				if !ok {
					t.Fatalf("ran out after %d requests", i)
				}
				if d < prev {
					t.Fatalf("request %d due at %v, before the one before it (%v)", i, d, prev)
				}
				prev, at = d, d
			}
			if math.Abs(float64(at-tt.last)) > float64(5*time.Millisecond) {
				t.Errorf("request %d due at %v, want about %v", tt.n-1, at, tt.last)
			}
			if strings.HasPrefix(tt.spec, "1000:0") {
				if _, ok := next(); ok {
					t.Error("requests due after the rate fell to zero")
				}
			}
		})
	}
	// In the pause, nothing is due.
	s, _ := ParseShape("100@1s,0@1s,100@1s")
	next := s.dueTimes()
	for range 300 {
		d, ok := next()
		if !ok {
			break
		}
		if d > time.Second+time.Millisecond && d < 2*time.Second-time.Millisecond {
			t.Fatalf("a request due at %v, during the pause", d)
		}
	}
	if r := s.RateAt(1500 * time.Millisecond); r != 0 {
		t.Errorf("rate in the pause %v", r)
	}
}
