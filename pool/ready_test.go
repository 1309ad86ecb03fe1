package pool

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// TestWaitReady: WaitReady returns once every slot's helper is ready (and
// then Stats says so), waits out a pool that cannot start a helper until ctx
// ends, follows a Reconfigure that adds slots, and fails on a closed pool.
func TestWaitReady(t *testing.T) {
	tests := []struct {
		name    string
		fake    string
		grow    int // Reconfigure to this many helpers before waiting
		close   bool
		missing bool // the command does not exist, so no helper ever starts
		wantErr error
	}{
		{name: "ready", fake: "slowstart"},
		{name: "grown", fake: "db", grow: 3},
		{name: "cannot start", fake: "db", missing: true, wantErr: context.DeadlineExceeded},
		{name: "closed", fake: "db", close: true, wantErr: ErrClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p *Pool
			if tt.missing {
				var err error
				p, err = New(Config{Processes: 2, Command: []string{filepath.Join(t.TempDir(), "missing")}})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { p.Close() })
			} else {
				p = newPool(t, tt.fake, Config{Processes: 2})
			}
			if tt.grow > 0 {
				next := *p.conf()
				next.Processes = tt.grow
				if err := p.Reconfigure(bounded(t), next); err != nil {
					t.Fatal(err)
				}
			}
			if tt.close {
				p.Close()
			}
			wait := 20 * time.Second
			if tt.wantErr == context.DeadlineExceeded {
				wait = 500 * time.Millisecond // a pool that cannot start a helper never gets there
			}
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			err := p.WaitReady(ctx)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("WaitReady = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			st := p.Stats()
			if len(st.Helpers) != p.Processes() {
				t.Fatalf("%d slots, want %d", len(st.Helpers), p.Processes())
			}
			for _, h := range st.Helpers {
				if h.State != StateReady || h.PID == 0 {
					t.Errorf("after WaitReady, slot %d is %s with pid %d", h.Slot, h.State, h.PID)
				}
			}
		})
	}
}
