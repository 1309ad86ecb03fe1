package pool

import (
	"regexp"
	"sync"
	"testing"
	"time"
)

// labelValue is what a metric label value looks like: snake_case, no spaces.
var labelValue = regexp.MustCompile(`^[a-z]+(_[a-z]+)*$`)

func TestVocabularyIsLabelSafe(t *testing.T) {
	var all []string
	for _, s := range HelperStates() {
		all = append(all, string(s))
	}
	for _, r := range RetireReasons() {
		all = append(all, string(r))
	}
	// The out-of-step and trust words are label values too.
	all = append(all, stepIdle, stepExtra, stepJunk, stepProbe, stepDisagree, trustProbePassed, trustNewCommand)
	seen := map[string]int{}
	for _, v := range all {
		if !labelValue.MatchString(v) {
			t.Errorf("%q is not snake_case", v)
		}
		seen[v]++
	}
	// "untrusted" is both a state and the reason for leaving service in it;
	// "probe_failed" both a retire reason and what the helper did.
	for v, n := range seen {
		if n > 1 && v != string(StateUntrusted) && v != stepProbe {
			t.Errorf("%q listed %d times", v, n)
		}
	}
}

func TestSlotStateNames(t *testing.T) {
	tests := []struct {
		s    slotState
		want HelperState
	}{
		{slotStarting, StateStarting},
		{slotReady, StateReady},
		{slotBackoff, StateBackoff},
		{slotStopped, StateStopped},
		{slotUntrusted, StateUntrusted},
		{slotProbing, StateProbing},
	}
	for _, tt := range tests {
		if got := tt.s.HelperState(); got != tt.want {
			t.Errorf("slot state %d = %q, want %q", tt.s, got, tt.want)
		}
	}
}

// endedObserver records HelperEnded's reasons.
type endedObserver struct {
	nopObserver
	mu    sync.Mutex
	ended []string
	added chan struct{}
}

func (o *endedObserver) HelperEnded(reason string) {
	o.mu.Lock()
	o.ended = append(o.ended, reason)
	o.mu.Unlock()
	select {
	case o.added <- struct{}{}:
	default:
	}
}

// TestRetireReasonsReachTheObserver: the reason a helper was replaced for
// reaches metrics as one of the documented label values.
func TestRetireReasonsReachTheObserver(t *testing.T) {
	tests := []struct {
		user string
		want RetireReason
	}{
		{"garbage", RetireProtocol},
		{"hang", RetireTimeout},
		{"crash", RetireExit},
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			o := &endedObserver{added: make(chan struct{}, 1)}
			p := newPool(t, "db", Config{Processes: 1, Timeout: 300 * time.Millisecond, Observer: o})
			waitReady(t, p)
			if _, err := p.Do(bounded(t), auth(tt.user, "x")); err == nil {
				t.Fatal("no error")
			}
			deadline := time.After(10 * time.Second)
			for {
				o.mu.Lock()
				got := append([]string(nil), o.ended...)
				o.mu.Unlock()
				if len(got) > 0 {
					if got[0] != string(tt.want) {
						t.Fatalf("HelperEnded(%q), want %q", got[0], tt.want)
					}
					return
				}
				select {
				case <-o.added:
				case <-deadline:
					t.Fatal("no HelperEnded within 10s")
				}
			}
		})
	}
}
