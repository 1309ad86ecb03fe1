package main

import (
	"errors"
	"flag"
	"io"
	"slices"
	"testing"

	shellquote "github.com/kballard/go-shellquote"
)

// Run with
//
//	go test -run '^$' -fuzz '^FuzzCommandLine$' -fuzztime 60s ./cmd/authpool
//
// (make fuzz runs every target briefly).

// fzPoolConfig parses args as authpool serve does and returns the helper
// command poolConfig makes of them.
func fzPoolConfig(t *testing.T, args ...string) ([]string, error) {
	t.Helper()
	var f serveFlags
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f.register(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("flags %q: %v", args, err)
	}
	cfg, err := f.poolConfig(fs.Args(), nil)
	if err == nil && len(cfg.Command) == 0 {
		t.Fatalf("flags %q: poolConfig succeeded with no command", args)
	}
	return cfg.Command, err
}

// FuzzCommandLine checks how authpool serve reads the helper command:
//   - shellquote.Split either fails or returns words that shellquote.Join
//     quotes into a string Split reads back as the same words;
//   - --command S gives the command shellquote.Split(S) gives, and fails
//     exactly when Split fails (with its error wrapped) or S has no words;
//   - --command with Join's quoting of those words gives the same words,
//     so any argv can be written for --command;
//   - a command after -- is taken word for word, and --command together
//     with one is refused.
func FuzzCommandLine(f *testing.F) {
	for _, s := range []string{
		"testscripts/sample.py", "/usr/bin/python3 -u helper.py --db '/var/lib/my db'",
		`helper "a b" 'c d' e\ f`, `helper "unterminated`, `helper 'unterminated`, `helper \`,
		`helper "\"\\\$\` + "`" + `\n"`, "helper \\\n--flag", "   ", "\t\n", "\\\n", "''", `""`,
		"helper '' \"\"", "helper $HOME ~ * ? [a] {b,c} ; | & > <", "helper \x00 \x03\x04\x13\x1a\x7f",
		"helper \r arg", "\xff\xfe \xc0\x80", "h\u00a0x \u2028", "'it'\\''s'", `"a\b\'c"`, "--command",
		"-- x", "helper #comment",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		words, err := shellquote.Split(s)
		if err == nil {
			joined := shellquote.Join(words...)
			again, err := shellquote.Split(joined)
			if err != nil || !slices.Equal(again, words) {
				t.Fatalf("Split(%q) = %q, joined %q, split again %q, %v", s, words, joined, again, err)
			}
		}

		cmd, cerr := fzPoolConfig(t, "--command", s)
		switch {
		case err != nil:
			if cerr == nil || !errors.Is(cerr, err) {
				t.Fatalf("--command %q: %q, %v; want Split's error %v", s, cmd, cerr, err)
			}
		case len(words) == 0:
			if cerr == nil {
				t.Fatalf("--command %q: %q, with no words", s, cmd)
			}
		case cerr != nil || !slices.Equal(cmd, words):
			t.Fatalf("--command %q: %q, %v; want %q", s, cmd, cerr, words)
		}
		if err != nil || len(words) == 0 {
			return
		}
		if cmd, cerr := fzPoolConfig(t, "--command", shellquote.Join(words...)); cerr != nil || !slices.Equal(cmd, words) {
			t.Fatalf("--command %q (Join of %q): %q, %v", shellquote.Join(words...), words, cmd, cerr)
		}
		if cmd, cerr := fzPoolConfig(t, append([]string{"--"}, words...)...); cerr != nil || !slices.Equal(cmd, words) {
			t.Fatalf("-- %q: %q, %v", words, cmd, cerr)
		}
		if cmd, cerr := fzPoolConfig(t, append([]string{"--command", s, "--"}, words...)...); cerr == nil {
			t.Fatalf("--command %q -- %q accepted: %q", s, words, cmd)
		}
	})
}
