package main

import (
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	authpoold "github.com/authpool/authpool/internal/daemon"
)

// redisPassword is the Redis password of the flag tests: no error,
// status or log line may show it.
const redisPassword = "R3disPw-" + secretMark

// TestClusterFlags: --redis and --cluster-secret-file reach the daemon's
// Shared settings together or not at all; a Redis password is refused on
// the command line and in a config file others can read; --redis with
// the penalties off shares nothing and is refused; no error shows the
// Redis password.
func TestClusterFlags(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "cluster.secret")
	os.WriteFile(secret, []byte(strings.Repeat("ab", 32)+"\n"), 0o600)
	open := filepath.Join(dir, "open.secret")
	os.WriteFile(open, []byte(strings.Repeat("ab", 32)), 0o644)
	short := filepath.Join(dir, "short.secret")
	os.WriteFile(short, []byte("abc"), 0o600)
	withPw := "redis://authpool:" + redisPassword + "@127.0.0.1:6379/0"
	conf := func(name string, mode os.FileMode, body string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), mode)
		os.Chmod(p, mode)
		return p
	}
	private := conf("private.toml", 0o600, "redis = \""+withPw+"\"\ncluster-secret-file = \""+secret+"\"\n")
	public := conf("public.toml", 0o644, "redis = \""+withPw+"\"\ncluster-secret-file = \""+secret+"\"\n")
	for _, tc := range []struct {
		name string
		args []string
		want string // the error, or "ok URL" for the Shared settings
	}{
		{"none", nil, "ok  0"},
		{"unix", []string{"--redis", "unix:///run/redis.sock", "--cluster-secret-file", secret}, "ok unix:///run/redis.sock 64"},
		{"password in a private config", []string{"--config", private}, "ok " + withPw + " 64"},
		{"password on the command line", []string{"--redis", withPw, "--cluster-secret-file", secret}, "a URL with a password on the command line"},
		{"password in a public config", []string{"--config", public}, "holds the --redis password and is readable by every user"},
		{"no secret", []string{"--redis", "unix:///run/redis.sock"}, "needs --cluster-secret-file"},
		{"no secret, password", []string{"--config", conf("nosecret.toml", 0o600, "redis = \""+withPw+"\"\n")}, "redis://authpool:xxxxx@127.0.0.1:6379/0 needs --cluster-secret-file"},
		{"secret without redis", []string{"--cluster-secret-file", secret}, "--cluster-secret-file needs --redis"},
		{"timeout without redis", []string{"--redis-timeout", "1s"}, "--redis-timeout needs --redis"},
		{"secret others read", []string{"--redis", "unix:///run/redis.sock", "--cluster-secret-file", open}, "chmod 600"},
		{"short secret", []string{"--redis", "unix:///run/redis.sock", "--cluster-secret-file", short}, "want at least 32"},
		{"penalties off", []string{"--redis", "unix:///run/redis.sock", "--cluster-secret-file", secret, "--penalty-base", "0"}, "nothing to share"},
		{"penalties off, a cache", []string{"--redis", "unix:///run/redis.sock", "--cluster-secret-file", secret, "--penalty-base", "0", "--negative-cache-ttl", "1s"}, "ok unix:///run/redis.sock 64"},
		{"bad scheme", []string{"--config", conf("scheme.toml", 0o600, "redis = \"http://u:"+redisPassword+"@h/\"\ncluster-secret-file = \""+secret+"\"\n")}, `scheme "http"`},
		{"bad parameter", []string{"--config", conf("param.toml", 0o600, "redis = \"rediss://u:"+redisPassword+"@h/?skip_verify=true\"\ncluster-secret-file = \""+secret+"\"\n")}, `"skip_verify" not taken`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := clusterConfig(t, tc.args)
			if !strings.Contains(got, tc.want) {
				t.Errorf("%s; want %s", got, tc.want)
			}
			if strings.Contains(got, redisPassword) && !strings.HasPrefix(tc.want, "ok ") {
				t.Errorf("the error shows the Redis password: %s", got)
			}
		})
	}
}

// clusterConfig parses serve's args and checks the daemon's Config as
// serve does, returning the error or "ok URL SECRETLEN".
func clusterConfig(t *testing.T, args []string) string {
	t.Helper()
	f, fs, err := parseServeFlags(append(args, "--", "true"), io.Discard)
	if err != nil {
		return err.Error()
	}
	cfg, err := f.daemonConfig(fs.Args(), nil)
	if err != nil {
		return err.Error()
	}
	if _, err := authpoold.New(cfg); err != nil {
		return err.Error()
	}
	return "ok " + cfg.Shared.Redis + " " + itoa(len(cfg.Shared.Secret))
}

func itoa(n int) string { return strconv.Itoa(n) }
