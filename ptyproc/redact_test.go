package ptyproc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func redactLine(w *secretWindow, line string) string {
	r := redactor{w: w}
	out, ok := r.redact(nil, []byte(line))
	if !ok {
		return "(over budget)"
	}
	return string(out)
}

func jsonOf(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// TestRedactForms: a password is redacted as it is and in every escaped
// form scripts print strings in, and the text around it is kept.
func TestRedactForms(t *testing.T) {
	const (
		ascii = `S3cr3t it's "q" \ 100%+<&>/`
		utf   = "S3cr3t-pässwörd€-🔑"
		ctl   = "S3cr3t-\x01\x1b\x7f-ctl"
		bad   = "S3cr3t-\xff\xfe-x\xc3"
		nbsp  = "S3cr3t-\u00a0-\u2028"
	)
	tests := []struct {
		name, secret, printed string
	}{
		{"raw", ascii, ascii},
		{"raw utf-8", utf, utf},
		{"go json", ascii, jsonOf(ascii)},
		{"go json utf-8", utf, jsonOf(utf)},
		{"go json control", ctl, jsonOf(ctl)},
		{"go json invalid utf-8 (U+FFFD)", bad, jsonOf(bad)},
		{"go %q", bad, strconv.Quote(bad)},
		{"go %+q", utf, strconv.QuoteToASCII(utf)},
		{"go %+q control", ctl, strconv.QuoteToASCII(ctl)},
		{"url query", ascii, url.QueryEscape(ascii)},
		{"url path", utf, url.PathEscape(utf)},
		{"url lower-case hex", utf, regexp.MustCompile(`%[0-9A-F]{2}`).ReplaceAllStringFunc(url.PathEscape(utf), strings.ToLower)},
		// Written by Python 3 (see testscripts/leaky-stderr.py).
		{"python bytes repr", utf, `b'S3cr3t-p\xc3\xa4ssw\xc3\xb6rd\xe2\x82\xac-\xf0\x9f\x94\x91'`},
		{"python str repr", ascii, `'S3cr3t it\'s "q" \\ 100%+<&>/'`},
		{"python str repr utf-8", utf, `'S3cr3t-pässwörd€-🔑'`},
		{"python str repr surrogateescape", bad, `'S3cr3t-\udcff\udcfe-x\udcc3'`},
		{"python str repr non-printable", nbsp, `'S3cr3t-\xa0-\u2028'`},
		{"python ascii()", utf, `'S3cr3t-p\xe4ssw\xf6rd\u20ac-\U0001f511'`},
		{"python json.dumps", utf, `"S3cr3t-p\u00e4ssw\u00f6rd\u20ac-\ud83d\udd11"`},
		{"python json.dumps surrogateescape", bad, `"S3cr3t-\udcff\udcfe-x\udcc3"`},
		{"python quote_plus", ascii, `S3cr3t+it%27s+%22q%22+%5C+100%25%2B%3C%26%3E%2F`},
		{"python shlex.quote", ascii, `'S3cr3t it'"'"'s "q" \ 100%+<&>/'`},
		{"perl Data::Dumper", utf, `$VAR1 = "S3cr3t-p\x{e4}ssw\x{f6}rd\x{20ac}-\x{1f511}";`},
		// Written by bash.
		{"bash printf %q", ascii, `S3cr3t\ it\'s\ \"q\"\ \\\ 100%+\<\&\>/`},
		{"bash printf %q octal", utf, `$'S3cr3t-p\303\244ssw\303\266rd\342\202\254-\360\237\224\221'`},
		{"bash declare -p", `S3cr3t $HOME "x"`, `declare -- pw="S3cr3t \$HOME \"x\""`},
		{"bash single quotes", ascii, `'S3cr3t it'\''s "q" \ 100%+<&>/'`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newSecretWindow(time.Minute)
			defer w.close()
			w.add("unrelated")
			w.add(tt.secret)
			line := "before " + tt.printed + " after"
			got := redactLine(w, line)
			// Quotes around the password may stay; nothing of it may.
			if strings.Contains(got, "S3cr3t") || !strings.Contains(got, "(redacted)") ||
				!strings.HasPrefix(got, "before ") || !strings.HasSuffix(got, " after") {
				t.Errorf("%q\nredacted to %q", line, got)
			}
		})
	}
}

// TestRedactLeavesOtherTextAlone: lines without a secret, in whatever
// encoding, are logged as they are.
func TestRedactLeavesOtherTextAlone(t *testing.T) {
	w := newSecretWindow(time.Minute)
	defer w.close()
	w.add("hunter2")
	for _, line := range []string{
		"",
		"nothing to see",
		`a "quoted" \x41 %41 + 'single' $'x' \u0041`,
		"hunter", "unter2", `hunter\x`, "hunter%",
		"\xff\xfe\\",
	} {
		if got := redactLine(w, line); got != line {
			t.Errorf("%q redacted to %q", line, got)
		}
	}
	if got := redactLine(w, "hunter2 hunter2, hunter%32"); got != "(redacted) (redacted), (redacted)" {
		t.Errorf("repeated secret: %q", got)
	}
}

// TestRedactWindow: every password sent within the window is redacted, not
// only the last few; each is wiped once the window has passed.
func TestRedactWindow(t *testing.T) {
	w := newSecretWindow(300 * time.Millisecond)
	defer w.close()
	for i := range 100 {
		w.add(fmt.Sprintf("pw-%03d", i))
	}
	if got := redactLine(w, "pw-000 pw-050 pw-099"); got != "(redacted) (redacted) (redacted)" {
		t.Fatalf("100 requests back: %q", got)
	}
	w.mu.Lock()
	first := w.head.b
	w.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for {
		w.mu.Lock()
		n := w.n
		w.mu.Unlock()
		if n == 0 {
			break // the timer expired them, with no line to redact
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d secrets still held after the window", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !bytes.Equal(first, make([]byte, len(first))) {
		t.Errorf("expired secret not wiped: %q", first)
	}
	if got := redactLine(w, "pw-000"); got != "pw-000" {
		t.Errorf("expired secret still redacted: %q", got)
	}
}

// TestRedactWindowKeepsResentSecret: sending a password again starts its
// window again.
func TestRedactWindowKeepsResentSecret(t *testing.T) {
	w := newSecretWindow(time.Hour)
	defer w.close()
	w.add("again")
	w.add("other")
	w.add("again")
	w.mu.Lock()
	n, tail := w.n, string(w.tail.b)
	w.mu.Unlock()
	if n != 2 || tail != "again" {
		t.Fatalf("%d secrets, newest %q", n, tail)
	}
}

// TestRedactWindowClosed: closing wipes everything and keeps nothing more.
func TestRedactWindowClosed(t *testing.T) {
	w := newSecretWindow(time.Hour)
	w.add("one")
	w.mu.Lock()
	b := w.head.b
	w.mu.Unlock()
	w.close()
	w.add("two")
	if !bytes.Equal(b, []byte{0, 0, 0}) {
		t.Errorf("secret not wiped at close: %q", b)
	}
	if got := redactLine(w, "one two"); got != "one two" {
		t.Errorf("closed window redacted: %q", got)
	}
}

// TestStderrRedactedBeforeCut: a password that straddles the 1 KiB cut is
// redacted, so no prefix of it is logged; a line too long to redact is not
// logged at all.
func TestStderrRedactedBeforeCut(t *testing.T) {
	var logs syncBuffer
	w := newSecretWindow(time.Minute)
	defer w.close()
	secret := "S3cr3t-" + strings.Repeat("z", 40)
	w.add(secret)
	l := stderrLogger{
		log:   slog.New(slog.NewTextHandler(&logs, nil)),
		max:   1024,
		limit: 100,
		red:   redactor{w: w},
	}
	l.add([]byte(strings.Repeat("x", 1000) + secret + strings.Repeat("y", 1000)))
	l.end()
	l.add([]byte(strings.Repeat("x", stderrLineRead-10)))
	l.add([]byte(secret))
	l.end()
	l.add([]byte("short"))
	l.end()
	out := logs.String()
	if strings.Contains(out, "S3cr3t") || strings.Contains(out, "zzz") {
		t.Errorf("part of a password logged:\n%s", out)
	}
	if !strings.Contains(out, strings.Repeat("x", 1000)+"(redacted)"+strings.Repeat("y", 14)+"...") {
		t.Errorf("long line not redacted, then cut at 1024 bytes:\n%.1100s", out)
	}
	if !strings.Contains(out, "too long to redact") || !strings.Contains(out, "line=short") {
		t.Errorf("over-long line not reported, or the next line lost:\n%s", out)
	}
}

// TestRedactBudget: a line that would cost too much to redact (a long line,
// after passwords of very many lengths) is refused, not logged as it is.
func TestRedactBudget(t *testing.T) {
	w := newSecretWindow(time.Minute)
	defer w.close()
	for n := 1; n <= 200; n++ {
		w.add(strings.Repeat("s", n))
	}
	if got := redactLine(w, strings.Repeat("x", 1000)); got != strings.Repeat("x", 1000) {
		t.Errorf("a 1000-byte line was refused: %.20q", got)
	}
	if got := redactLine(w, strings.Repeat("x", stderrLineRead)); got != "(over budget)" {
		t.Errorf("a 64 KiB line after 200 password lengths was redacted: %.20q", got)
	}
}
