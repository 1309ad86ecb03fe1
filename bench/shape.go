package bench

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Shape is an open loop's rate over time: stages, one after the other,
// each holding a rate or ramping linearly from one rate to another, and
// then the last rate held for as long as the run lasts.
type Shape struct {
	Stages []Stage
	spec   string
}

// Stage is a part of a Shape: the rate goes linearly from From to To
// (requests a second) over Dur.
type Stage struct {
	From, To float64
	Dur      time.Duration
}

// maxRate bounds a rate, so that nonsense is refused rather than planned.
const maxRate = 1e8

// ParseShape reads a rate: a comma-separated list of stages, each
//
//	R          R requests a second (last stage only: held to the end)
//	R@D        R a second for D (a step)
//	A:B:D      from A to B a second, linearly, over D (a ramp)
//	A:B:D:N    from A to B over D in N equal steps (a staircase)
//
// for example "2000", "1000:40000:30s" or "1000@10s,2000@10s,4000@10s".
// After the last stage its final rate holds until the run ends.
func ParseShape(spec string) (*Shape, error) {
	s := &Shape{spec: spec}
	parts := strings.Split(spec, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		bad := func(why string) error {
			return fmt.Errorf("rate %q: stage %q: %s (want R, R@DURATION, FROM:TO:DURATION or FROM:TO:DURATION:STEPS)", spec, p, why)
		}
		rate := func(v string) (float64, error) {
			r, err := strconv.ParseFloat(v, 64)
			if err != nil || math.IsNaN(r) || r < 0 || r > maxRate {
				return 0, bad(fmt.Sprintf("%q is not a rate from 0 to %g", v, float64(maxRate)))
			}
			return r, nil
		}
		dur := func(v string) (time.Duration, error) {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return 0, bad(fmt.Sprintf("%q is not a positive duration", v))
			}
			return d, nil
		}
		if r, d, ok := strings.Cut(p, "@"); ok {
			rv, err := rate(r)
			if err != nil {
				return nil, err
			}
			dv, err := dur(d)
			if err != nil {
				return nil, err
			}
			s.Stages = append(s.Stages, Stage{rv, rv, dv})
			continue
		}
		f := strings.Split(p, ":")
		switch len(f) {
		case 1:
			if i != len(parts)-1 {
				return nil, bad("a rate without a duration must be the last stage")
			}
			rv, err := rate(f[0])
			if err != nil {
				return nil, err
			}
			s.Stages = append(s.Stages, Stage{rv, rv, 0})
		case 3, 4:
			a, err := rate(f[0])
			if err != nil {
				return nil, err
			}
			b, err := rate(f[1])
			if err != nil {
				return nil, err
			}
			d, err := dur(f[2])
			if err != nil {
				return nil, err
			}
			if len(f) == 3 {
				s.Stages = append(s.Stages, Stage{a, b, d})
				continue
			}
			n, err := strconv.Atoi(f[3])
			if err != nil || n < 2 || n > 1000 {
				return nil, bad(fmt.Sprintf("%q is not a number of steps from 2 to 1000", f[3]))
			}
			for k := range n {
				r := a + (b-a)*float64(k)/float64(n-1)
				s.Stages = append(s.Stages, Stage{r, r, d / time.Duration(n)})
			}
		default:
			return nil, bad("wrong number of fields")
		}
	}
	if s.Peak() <= 0 {
		return nil, fmt.Errorf("rate %q: never above zero", spec)
	}
	return s, nil
}

// ConstantShape is r requests a second throughout.
func ConstantShape(r float64) *Shape {
	return &Shape{Stages: []Stage{{r, r, 0}}, spec: strconv.FormatFloat(r, 'f', -1, 64)}
}

// String is the spec the shape was parsed from (a constant shape's rate),
// as reports show it.
func (s *Shape) String() string { return s.spec }

// Length is the time the stages take; the last rate holds after it.
func (s *Shape) Length() time.Duration {
	var d time.Duration
	for _, st := range s.Stages {
		d += st.Dur
	}
	return d
}

// Constant reports whether the rate never changes.
func (s *Shape) Constant() bool {
	for _, st := range s.Stages {
		if st.From != s.Stages[0].From || st.To != s.Stages[0].From {
			return false
		}
	}
	return true
}

// Peak is the highest rate.
func (s *Shape) Peak() float64 {
	var p float64
	for _, st := range s.Stages {
		p = max(p, st.From, st.To)
	}
	return p
}

// First is the first rate above zero: the warmup's.
func (s *Shape) First() float64 {
	for _, st := range s.Stages {
		if st.From > 0 {
			return st.From
		}
		if st.To > 0 {
			return st.To
		}
	}
	return 0
}

// RateAt is the rate due at t from the start.
func (s *Shape) RateAt(t time.Duration) float64 {
	for _, st := range s.Stages {
		if t < st.Dur {
			return st.From + (st.To-st.From)*float64(t)/float64(st.Dur)
		}
		t -= st.Dur
	}
	return s.Stages[len(s.Stages)-1].To
}

// dueTimes returns a function that gives the due time, from the start, of
// request 0, 1, 2... in turn, and false once no more are due (the shape
// ends at rate zero). Request k is due when the rate integrated from the
// start reaches k.
func (s *Shape) dueTimes() func() (time.Duration, bool) {
	var k float64    // the next request
	var base float64 // requests due before the current stage
	var t0 float64   // seconds at the start of the current stage
	i := 0
	return func() (time.Duration, bool) {
		for {
			var st Stage
			if i < len(s.Stages) {
				st = s.Stages[i]
			} else {
				last := s.Stages[len(s.Stages)-1].To
				st = Stage{last, last, 0}
			}
			m := k - base
			if st.Dur == 0 { // held to the end
				if st.From <= 0 {
					return 0, false
				}
				k++
				return secs(t0 + m/st.From), true
			}
			d := st.Dur.Seconds()
			if total := (st.From + st.To) / 2 * d; m < total {
				// Solve From·τ + (To-From)·τ²/(2d) = m for τ in [0, d], in
				// the form that needs no division by To-From.
				c := (st.To - st.From) / (2 * d)
				tau := 2 * m / (st.From + math.Sqrt(max(st.From*st.From+4*c*m, 0)))
				if st.From == 0 && m == 0 {
					tau = 0
				}
				k++
				return secs(t0 + min(tau, d)), true
			} else {
				base += total
			}
			t0 += d
			i++
		}
	}
}

func secs(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
