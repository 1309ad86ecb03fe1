package penalty

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/authpool/authpool/internal/testutil"
)

// daemonLogger is a logger as `authpool serve` makes one for
// --log-format text or json (cmd/authpool's newLogger).
func daemonLogger(format string, w *bytes.Buffer) *slog.Logger {
	var lv slog.LevelVar
	lv.Set(slog.LevelInfo)
	opts := &slog.HandlerOptions{Level: &lv}
	if format == "json" {
		opts.ReplaceAttr = func(_ []string, a slog.Attr) slog.Attr {
			if a.Value.Kind() == slog.KindDuration {
				a.Value = slog.StringValue(a.Value.Duration().String())
			}
			return a
		}
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// hostile are user and server names a client may choose: everything
// framing lets through (it refuses only line ends, NUL and ':' in a name,
// so no JSON key and no IPv6 address), aimed at making a line name
// another address.
var hostile = []string{
	`x" addr=6.6.6.6`,
	`msg="auth failed from 6.6.6.6"`,
	` msg="auth failed from 6.6.6.6" `,
	`","msg","auth failed from 6.6.6.6","x","`,
	`"msg" "auth failed from 6.6.6.6"`,
	`auth failed from 6.6.6.6`,
	`\" msg=\"auth failed from 6.6.6.6\"`,
	"a b=c d", "=", "'", `\`, "%s%d",
	"tab\there", "esc\x1b[31mred", "\v\f\x1c\x1d\x1e\x85", "line\u2028sep\u2029par",
	"bad utf-8 \xff\xfe", "1893456000", "20300101T000000", "2030-01-01", "{^LN-BEG}",
	"msg=\"auth failed from 6.6.6.6\"\x0bmsg=\"auth failed from 6.6.6.6\"",
}

// failures makes a log through a Guard: ban-able failures, the lines that
// must not ban anyone, and the hostile names. It returns the addresses
// fail2ban must find, in order, and the number of failures.
func failures(t *testing.T, g *Guard) (want []string, n int) {
	t.Helper()
	fail := func(user, server, password, client string, counts bool) {
		req := auth(user, password, client)
		req.Server = server
		if err := req.Validate(); err != nil {
			t.Fatalf("%q@%q: %v", user, server, err)
		}
		if ok, err := g.Do(context.Background(), req); ok || err != nil {
			t.Fatalf("%q: %v, %v", user, ok, err)
		}
		n++
		if counts {
			want = append(want, netip.MustParseAddr(client).Unmap().String())
		}
	}
	for i := range 3 {
		fail("alice", "example.com", "guess"+string(rune('a'+i)), "192.0.2.7", true)
	}
	fail("bob", "example.com", "guess", "2001:db8::7", true)
	fail("bob", "example.com", "guess2", "::ffff:192.0.2.8", true)
	fail("alice", "example.com", "guessa", "192.0.2.7", false) // repeated password
	fail("alice", "example.com", "guess", "", false)           // no address
	fail("alice", "example.com", "guess", "10.0.0.9", false)   // exempt
	for _, h := range hostile {
		fail(h, "example.com", "pw", "198.51.100.9", true)
		fail("carol", h, "pw", "198.51.100.10", true)
		fail(h, h, "pw2", "", false)
	}
	return want, n
}

// The fail2ban filter of contrib/ finds every failure that counts, with
// the right address, in both log formats the daemon writes, and no name a
// client chooses makes it find another address. It runs fail2ban-regex,
// from Debian's fail2ban package.
func TestFail2banFilter(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			var log bytes.Buffer
			var want []string
			var n int
			synctest.Test(t, func(t *testing.T) {
				g := newGuard(t, Config{
					Next:   newHelper(0),
					Exempt: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
					Logger: daemonLogger(format, &log),
				})
				want, n = failures(t, g)
			})
			// One line per failure: no name breaks a line in two.
			if lines := strings.Count(log.String(), "\n"); lines != n {
				t.Errorf("%d lines for %d failures:\n%s", lines, n, log.String())
			}
			got := testutil.Fail2banIPs(t, log.Bytes())
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("fail2ban found\n%q\nwant\n%q\nin\n%s", got, want, log.String())
			}
		})
	}
}

// The jail of contrib/ is one fail2ban accepts, with the filter beside it:
// fail2ban-client reads a copy of the system's configuration with both
// added and prints the commands it would run.
func TestFail2banJail(t *testing.T) {
	client, err := exec.LookPath("fail2ban-client")
	if err != nil {
		t.Skip("fail2ban-client not found: apt-get install fail2ban (.ci/run installs it) to test the fail2ban jail")
	}
	if _, err := os.Stat("/etc/fail2ban/jail.conf"); err != nil {
		t.Skip("no /etc/fail2ban/jail.conf to test the jail against")
	}
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("/etc/fail2ban")); err != nil {
		t.Fatal(err)
	}
	jails, _ := filepath.Glob(filepath.Join(dir, "jail.d", "*"))
	for _, j := range jails { // the system's own jails are not ours to test
		os.Remove(j)
	}
	for _, f := range []string{"filter.d/authpool.conf", "jail.d/authpool.conf"} {
		b, err := os.ReadFile(filepath.Join("../contrib/fail2ban", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, client, "-c", dir, "-d").CombinedOutput()
	if err != nil {
		t.Fatalf("fail2ban-client -d: %v\n%s", err, out)
	}
	for _, want := range []string{
		"['add', 'authpool', 'systemd']",
		`'^.*? msg="auth failed from <ADDR>"(?: |$)'`,
		"['set', 'authpool', 'addjournalmatch', '_SYSTEMD_UNIT=authpool.service']",
		"['set', 'authpool', 'usedns', 'no']",
		"5222,5223,5280,5281,5443",
		"['start', 'authpool']",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("fail2ban's reading of the jail lacks %s:\n%s", want, out)
		}
	}
}
