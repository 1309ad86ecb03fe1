package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/authpool/authpool/cache"
	"github.com/authpool/authpool/framing"
	"github.com/authpool/authpool/internal/testutil/fakepool"
	"github.com/authpool/authpool/metrics"
	"github.com/authpool/authpool/pool"
	"github.com/authpool/authpool/ptyproc"
)

func TestHelpAndVersion(t *testing.T) {
	for _, tt := range []struct {
		args     []string
		code     int
		want     string // in stdout
		wantErr  string // in stderr
		noStdout bool
	}{
		{args: []string{"help"}, want: "authpool help [COMMAND]"},
		{args: []string{"--help"}, want: "authpool version"},
		{args: []string{"version"}, want: "authpool "},
		{args: []string{"--version"}, want: "go1."},
		{args: []string{"help", "nope"}, code: 2, wantErr: `unknown command "nope"`, noStdout: true},
		{args: []string{}, code: 2, wantErr: "usage:", noStdout: true},
	} {
		var out, errOut strings.Builder
		code := run(t.Context(), tt.args, strings.NewReader(""), &out, &errOut)
		if code != tt.code || !strings.Contains(out.String(), tt.want) || !strings.Contains(errOut.String(), tt.wantErr) || (tt.noStdout && out.Len() > 0) {
			t.Errorf("authpool %v: exit %d, stdout %q, stderr %q", tt.args, code, out.String(), errOut.String())
		}
	}
}

// Every command explains itself: "help CMD" prints its usage line, a
// description, and its flags, on stdout, and exits 0.
func TestEveryCommandDescribesItself(t *testing.T) {
	for cmd := range commands {
		var out, errOut strings.Builder
		code := run(t.Context(), []string{"help", cmd}, strings.NewReader(""), &out, &errOut)
		lines := strings.Split(out.String(), "\n")
		i := 1
		for i < len(lines) && strings.HasPrefix(lines[i], "       ") {
			i++ // more usage lines
		}
		described := i+1 < len(lines) && lines[i] == "" && strings.TrimSpace(lines[i+1]) != "" && !strings.HasPrefix(lines[i+1], "flags:")
		if code != 0 || !strings.HasPrefix(lines[0], "usage: authpool "+cmd) || !described {
			t.Errorf("help %s: exit %d, stdout %q, stderr %q: want a usage line, a description and the flags", cmd, code, out.String(), errOut.String())
		}
		if !strings.Contains(out.String(), "  -") {
			t.Errorf("help %s lists no flags", cmd)
		}
	}
}

// JSON logs name enums and write durations as the text format does.
func TestJSONLogsReadable(t *testing.T) {
	var b strings.Builder
	log, _, err := newLogger("info", "json", &b)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("x", "mode", pool.NonBlocking, "protocol", framing.Ejabberd, "transport", ptyproc.Pipe,
		"op", framing.OpSetPass, "timeout", 5*time.Second)
	for _, want := range []string{`"mode":"nonblocking"`, `"protocol":"ejabberd"`, `"transport":"pipe"`, `"op":"setpass"`, `"timeout":"5s"`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("JSON log %s lacks %s", b.String(), want)
		}
	}
}

// The README names every metric the daemon exports: each authpool_ family,
// and the Go runtime's and the process's.
func TestReadmeNamesEveryMetric(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	m := metrics.New()
	m.Watch(func() pool.Stats { return pool.Stats{} })
	// Vectors appear once they have a value.
	m.Request(framing.OpAuth, "yes", time.Millisecond, time.Millisecond)
	m.HelperEnded(string(pool.RetireExit))
	m.OutOfStep("extra_output")
	m.Trust(true, "new_command")
	c, err := cache.New(cache.Config{Next: &fakepool.Pool{}, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	m.WatchCache(c.Stats)
	fams, err := m.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var goOrProcess bool
	for _, f := range fams {
		name := f.GetName()
		if short, ok := strings.CutPrefix(name, "authpool_"); ok {
			if !strings.Contains(readme, "`"+short) && !strings.Contains(readme, name) {
				t.Errorf("README does not name the metric %s", name)
			}
			continue
		}
		goOrProcess = true
	}
	if goOrProcess && (!strings.Contains(readme, "`go_`") || !strings.Contains(readme, "`process_`")) {
		t.Error("README does not say that the Go runtime's (go_) and the process's (process_) metrics are exported")
	}
}

// make install puts the binary, the connect link, the units (pointing at
// the binary) and a config in place, and keeps a config that exists.
func TestMakeInstall(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	dest := t.TempDir()
	install := func() string {
		cmd := exec.Command("make", "-C", "../..", "install", "DESTDIR="+dest, "PREFIX=/opt/authpool")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("make install: %v\n%s", err, out)
		}
		return string(out)
	}
	install()
	for _, p := range []string{"/opt/authpool/bin/authpool", "/etc/systemd/system/authpool.socket", "/etc/authpool/authpool.toml",
		"/usr/share/bash-completion/completions/authpool"} {
		if _, err := os.Stat(dest + p); err != nil {
			t.Errorf("make install did not install %s: %v", p, err)
		}
	}
	if l, err := os.Readlink(dest + "/opt/authpool/bin/authpool-connect"); err != nil || l != "authpool" {
		t.Errorf("authpool-connect: %q, %v; want a link to authpool", l, err)
	}
	unit, _ := os.ReadFile(dest + "/etc/systemd/system/authpool.service")
	if !strings.Contains(string(unit), "ExecStart=/opt/authpool/bin/authpool serve") {
		t.Errorf("the unit does not start the installed binary:\n%s", unit)
	}
	os.WriteFile(dest+"/etc/authpool/authpool.toml", []byte("# mine\n"), 0o644)
	if out := install(); !strings.Contains(out, "kept") {
		t.Errorf("a second install did not say it kept the config:\n%s", out)
	}
	if b, _ := os.ReadFile(dest + "/etc/authpool/authpool.toml"); string(b) != "# mine\n" {
		t.Errorf("make install overwrote an existing config")
	}
}

// Bash completion offers the subcommands, and each one's flags as its help
// lists them.
func TestBashCompletion(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	// The test binary stands in for authpool: it runs main with mainEnv.
	script := `source ../../contrib/bash-completion/authpool
complete_words() { COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); _authpool; echo "${COMPREPLY[*]}"; }
complete_words "$AUTHPOOL" st
complete_words "$AUTHPOOL" serve --max-req
complete_words "$AUTHPOOL" connect --log
complete_words "$AUTHPOOL" help be
complete_words "$AUTHPOOL" do
complete_words "$AUTHPOOL" doctor --us
complete_words "$AUTHPOOL" help do
`
	cmd := exec.Command("bash", "-c", script)
	cmd.Env = append(os.Environ(), "AUTHPOOL="+os.Args[0], mainEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bash: %v\n%s", err, out)
	}
	want := "status\n--max-requests\n--log-file --log-level\nbench\ndoctor\n--user\ndoctor\n"
	if string(out) != want {
		t.Errorf("completions:\n%s\nwant:\n%s", out, want)
	}
}
