package main

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

// zeroMeans lists every numeric flag of every command, and what 0 does
// for it: a meaning its help text states, or "" when 0 is refused. A flag
// missing here fails the test: each one is decided, none left to chance.
var zeroMeans = map[string]string{
	// The pool's flags: serve, bench and doctor.
	"--processes":         "",
	"--timeout":           "", // connect's is below
	"--start-timeout":     "same as --timeout",
	"--queue-timeout":     "twice --timeout",
	"--max-requests":      "never",
	"--max-age":           "never",
	"--out-of-step-limit": "",
	"--untrusted-for":     "",
	"--answer-grace":      "no wait",
	"--queue":             "64 per helper",
	// serve's (and doctor's, which takes serve's flags).
	"--client-timeout":           "never",
	"--max-connections":          "",
	"--max-connections-per-peer": "a quarter of --max-connections",
	"--cache-ttl":                "not cached",
	"--negative-cache-ttl":       "not cached",
	"--cache-size":               "",
	"--shutdown-timeout":         "",
	"--penalty-base":             "off",
	"--penalty-max":              "",
	"--penalty-window":           "",
	"--penalty-user-max":         "",
	"--penalty-max-keys":         "",
	"--redis-timeout":            "",
	// bench's.
	"--connections":    "concurrency, at most 16",
	"--concurrency":    "--processes for a command, 16 otherwise",
	"--rate":           "closed loop",
	"--duration":       "none, with --requests",
	"--requests":       "run for --duration",
	"--warmup":         "none",
	"--progress-every": "100ms for the bar, 1s for lines",
	"--spawn-samples":  "skip",
	"--leak-threshold": "",
	"--sample-every":   "",
	"--users":          "",
	"--break-p99":      "ten times the p99 at the start",
	"--repeat":         "none",
	"--seed":           "a new one each run",
	// connect's: the caller's protocol decides.
	"connect --timeout": "3s for generic",
}

// numericFlag matches a numeric flag in a command's help.
var numericFlag = regexp.MustCompile(`(?m)^  -([a-z0-9-]+) (int|duration|float|uint)\b`)

// Every numeric flag of every command, given 0, either does what its help
// text says 0 means, or is refused with the same message everywhere; a
// negative value is refused everywhere.
func TestZeroFlags(t *testing.T) {
	// What follows the flag, so that a command that takes the 0 fails fast
	// on something else instead of running.
	rest := map[string][]string{
		"serve":   nil, // no helper command
		"bench":   nil, // no target
		"doctor":  nil, // no helper command
		"check":   {"isuser", "alice", "example.com"},
		"status":  {"--socket", "/nonexistent/authpool.sock"},
		"connect": {"--socket", "/nonexistent/authpool.sock"},
	}
	cmds := slices.Sorted(func(yield func(string) bool) {
		for c := range commands {
			if !yield(c) {
				return
			}
		}
	})
	for _, cmd := range cmds {
		var help, discard strings.Builder
		run(t.Context(), []string{"help", cmd}, strings.NewReader(""), &help, &discard)
		for _, m := range numericFlag.FindAllStringSubmatch(help.String(), -1) {
			flagName, kind := "--"+m[1], m[2]
			meaning, ok := zeroMeans[cmd+" "+flagName]
			if !ok {
				meaning, ok = zeroMeans[flagName]
			}
			if !ok {
				t.Errorf("%s %s: not audited (add it to zeroMeans)", cmd, flagName)
				continue
			}
			neg := "-1"
			if kind == "duration" {
				neg = "-1s"
			}
			for _, v := range []string{"0", neg} {
				args := append([]string{cmd, flagName, v}, rest[cmd]...)
				var out, errOut strings.Builder
				code := run(t.Context(), args, strings.NewReader(""), &out, &errOut)
				refusedZero := strings.Contains(errOut.String(), flagName+" 0") && strings.Contains(errOut.String(), "want more than 0 (the default is")
				refusedNeg := strings.Contains(errOut.String(), flagName+" -1") && strings.Contains(errOut.String(), "cannot be negative") ||
					kind == "uint" && strings.Contains(errOut.String(), `invalid value "-1" for flag -`+flagName[2:])
				switch {
				case v != "0" && (!refusedNeg || code == 0):
					t.Errorf("%s %s %s: exit %d, stderr %q: want it refused as negative", cmd, flagName, v, code, errOut.String())
				case v == "0" && meaning == "" && (!refusedZero || code == 0):
					t.Errorf("%s %s 0: exit %d, stderr %q: want it refused", cmd, flagName, code, errOut.String())
				case v == "0" && meaning != "" && refusedZero:
					t.Errorf("%s %s 0: refused, but 0 means %q", cmd, flagName, meaning)
				}
			}
			// What 0 means is said where the flag is described.
			if line := helpOf(help.String(), m[1]); meaning != "" && !strings.Contains(line, zeroSays+meaning) {
				t.Errorf("%s %s: help %q does not say (0: %s)", cmd, flagName, line, meaning)
			}
		}
	}
}

// helpOf is the description of flag name in a command's help.
func helpOf(help, name string) string {
	_, after, ok := strings.Cut(help, "  -"+name+" ")
	if !ok {
		return ""
	}
	desc, _, _ := strings.Cut(after, "\n  -")
	return strings.Join(strings.Fields(desc), " ")
}
