package main

import "testing"

// Every section of why.md explains a target the suite judges (or is the
// analysis): a renamed target must not leave its explanation behind.
func TestWhySectionsNameTargets(t *testing.T) {
	s := &suite{o: options{transports: []string{"pty"}, ns: []int{4}}, results: map[key]*result{}}
	ids := map[string]bool{"analysis": true}
	for _, tg := range s.targets(nil, nil) {
		ids[tg.id] = true
	}
	if len(why) < 2 {
		t.Fatalf("why.md read as %d sections", len(why))
	}
	for id := range why {
		if !ids[id] {
			t.Errorf("why.md section %q names no target", id)
		}
	}
	if analysis == "" {
		t.Error(`why.md has no section "analysis"`)
	}
}
