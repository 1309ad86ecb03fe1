package daemon

import "testing"

func TestPlanConnections(t *testing.T) {
	tests := []struct {
		name                                     string
		limit                                    uint64
		helpers, listeners, perListener, perPeer int
		wantPer, wantPeer, wantBudget            int
		wantLowered, wantErr                     bool
	}{
		{"room for all", 1 << 20, 4, 4, 1024, 0, 1024, 256, 1<<20 - 128, false, false},
		{"per peer given", 1 << 20, 1, 1, 1024, 10, 1024, 10, 1<<20 - 80, false, false},
		{"lowered to fit", 512, 1, 2, 1024, 0, 216, 54, 432, true, false},
		{"per peer lowered too", 512, 1, 2, 1024, 500, 216, 216, 432, true, false},
		{"infinite", ^uint64(0), 1, 1, 1024, 0, 1024, 256, 1<<30 - 80, false, false},
		{"too few", 100, 2, 4, 1024, 0, 0, 0, 0, false, true},
		{"helpers take it all", 1024, 64, 1, 1024, 0, 0, 0, 0, false, true},
	}
	for _, tt := range tests {
		p, err := planConnections(tt.limit, tt.helpers, tt.listeners, tt.perListener, tt.perPeer)
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if err != nil {
			continue
		}
		if p.perListener != tt.wantPer || p.perPeer != tt.wantPeer || p.budget != tt.wantBudget || p.lowered != tt.wantLowered {
			t.Errorf("%s: %+v, want per listener %d, per peer %d, budget %d, lowered %v", tt.name, p, tt.wantPer, tt.wantPeer, tt.wantBudget, tt.wantLowered)
		}
	}
}
