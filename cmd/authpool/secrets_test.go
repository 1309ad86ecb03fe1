package main

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestSecretsNeverLeak sends a distinct password down every path a request
// can take — accepted, refused, timed out, helper crashed, helper answered
// junk, malformed, overloaded — at debug log level, over the generic and
// native protocols, and checks that none of them appears in the daemon's
// output, in any answer or error message, or in any helper's command line
// or environment.
func TestSecretsNeverLeak(t *testing.T) {
	// Junk and double answers twice each would distrust the helpers, and
	// then no request would take the paths this test is about.
	// The guessing defence stays on: the overload path needs concurrent
	// checks of one user without an address, which it asks side by side
	// while the user has no penalty.
	d := startDaemon(t, "--mode", "nonblocking", "--processes", "2", "--queue", "1", "--timeout", "500ms",
		"--out-of-step-limit", "100", "--", scripts(t, "misbehave.py"), "--stderr-noise")
	c := d.dial()
	secret := func(path string) string { return secretMark + "-" + path + "-pw" }
	var answers []string
	for _, native := range []bool{false, true} {
		prefix := ""
		if native {
			prefix = "1 "
		}
		for _, line := range []string{
			"auth:alice:example.com:wonderland",                // accept (a demo password, checked below too)
			"auth:alice:example.com:" + secret("refuse"),       // refuse
			"auth:hang:example.com:" + secret("timeout"),       // timeout
			"auth:crash:example.com:" + secret("crash"),        // crash, asked twice
			"auth:garbage:example.com:" + secret("garbage"),    // junk answer
			"auth:double1:example.com:" + secret("double"),     // two answers
			"auth::example.com:" + secret("emptyuser"),         // malformed
			"auth:alice:example.com:" + secret("nul") + "\x00", // malformed
			"setpass:alice:example.com:" + secret("setpass"),   // a write
		} {
			answers = append(answers, c.ask(prefix+line)...)
		}
		// Overload: the queue holds one; the rest are refused at once.
		var flood []string
		for i := range 8 {
			flood = append(flood, fmt.Sprintf("%sauth:hang:example.com:%s%d", prefix, secret("overload"), i))
		}
		answers = append(answers, c.ask(flood...)...)
	}
	// Helpers' command lines and environments, while they run.
	var procText []string
	for _, m := range regexp.MustCompile(`msg="helper started" pid=(\d+)`).FindAllStringSubmatch(d.logs.String(), -1) {
		pid, _ := strconv.Atoi(m[1])
		for _, f := range []string{"cmdline", "environ"} {
			if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, f)); err == nil {
				procText = append(procText, string(b))
			}
		}
	}
	if len(procText) == 0 {
		t.Fatal("no helper process to inspect")
	}
	d.stop()
	if !strings.Contains(strings.Join(answers, "\n"), "error overloaded") {
		t.Errorf("the overload path was not taken: %q", answers)
	}
	for what, text := range map[string]string{
		"daemon output":    d.logs.String(),
		"answers":          strings.Join(answers, "\n"),
		"helper argv, env": strings.Join(procText, "\n"),
	} {
		for _, s := range []string{secretMark, "wonderland"} {
			if i := strings.Index(text, s); i >= 0 {
				t.Errorf("password in %s: %q", what, text[max(0, i-100):min(len(text), i+40)])
			}
		}
	}
}
