package main

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPenaltyFlags: the flags and config keys reach penalty.Config;
// --penalty-base 0 is off whatever the rest says; exempt networks are
// CIDRs or addresses, and one with host bits set is refused, naming the
// network meant.
func TestPenaltyFlags(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "a.toml")
	os.WriteFile(conf, []byte("penalty-exempt = [\"10.0.0.0/8\", \"192.0.2.1\"]\npenalty-window = \"20m\"\n"), 0o600)
	for _, tc := range []struct {
		args []string
		want string // penalty.Config's fields, or the error
	}{
		{nil, "off=false base=2s max=15s window=10m0s user=2s keys=250000 exempt=[]"},
		{[]string{"--penalty-base", "1s", "--penalty-max", "4s", "--penalty-user-max", "1s", "--penalty-max-keys", "10", "--penalty-exempt", "2001:db8::/32,198.51.100.0/24"},
			"off=false base=1s max=4s window=10m0s user=1s keys=10 exempt=[2001:db8::/32 198.51.100.0/24]"},
		{[]string{"--config", conf}, "off=false base=2s max=15s window=20m0s user=2s keys=250000 exempt=[10.0.0.0/8 192.0.2.1/32]"},
		{[]string{"--penalty-base", "0", "--penalty-max", "1s"}, "off=true base=0s max=0s window=0s user=0s keys=0 exempt=[]"},
		{[]string{"--penalty-exempt", "10.1.2.3/8"}, `did you mean 10.0.0.0/8`},
		{[]string{"--penalty-exempt", "example.com"}, `not a network`},
	} {
		f, _, err := parseServeFlags(append(tc.args, "--", "true"), io.Discard)
		var got string
		if err != nil {
			got = err.Error()
		} else {
			c := f.penalty.config()
			got = fmt.Sprintf("off=%v base=%v max=%v window=%v user=%v keys=%d exempt=%v",
				c.Off, c.Base, c.Max, c.Window, c.UserMax, c.MaxKeys, c.Exempt)
		}
		if !strings.Contains(got, tc.want) {
			t.Errorf("%q: %s; want %s", tc.args, got, tc.want)
		}
	}
}

// TestReloadPenaltyNeedsRestart: a SIGHUP that changes a penalty or
// Redis setting says that only a restart applies it (and keeps the
// running Guard and store).
func TestReloadPenaltyNeedsRestart(t *testing.T) {
	cur, _, err := parseServeFlags([]string{"--", "true"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ flag, value, setting string }{
		{"--penalty-max", "30s", "penalty-*"},
		{"--redis", "unix:///run/redis.sock", "redis"},
	} {
		var buf bytes.Buffer
		log := slog.New(slog.NewTextHandler(&buf, nil))
		if _, err := reloadConfig([]string{tc.flag, tc.value, "--", "true"}, cur, log); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(buf.String(), `msg="setting changed, but only a restart applies it" setting=`+tc.setting+"\n") {
			t.Errorf("no warning for a changed %s:\n%s", tc.flag, buf.String())
		}
	}
}
