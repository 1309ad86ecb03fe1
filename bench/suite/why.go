package main

import (
	_ "embed"
	"strings"
)

// why.md holds the prose the report prints: why a target was missed, as
// profiling found it on the machine the suite last ran on, and how to read
// the report. It is text about a machine, not code, so it lives beside the
// code, not in it.
//
//go:embed why.md
var whyText string

// whySections splits why.md at its "## id" headings.
func whySections(text string) map[string]string {
	out := map[string]string{}
	var id string
	var b strings.Builder
	flush := func() {
		if id != "" {
			out[id] = strings.TrimSpace(b.String())
		}
		b.Reset()
	}
	for line := range strings.Lines(text) {
		if h, ok := strings.CutPrefix(line, "## "); ok {
			flush()
			id = strings.TrimSpace(h)
			continue
		}
		b.WriteString(line)
	}
	flush()
	return out
}

var (
	why = whySections(whyText)
	// analysis is printed after the targets.
	analysis = why["analysis"]
)

// whyMissed explains a missed target, by its id; "" when why.md has no
// section for it.
func whyMissed(id string) string { return why[id] }
