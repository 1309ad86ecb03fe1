package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	authpoold "github.com/authpool/authpool/internal/daemon"
	"github.com/authpool/authpool/penalty"
	"github.com/authpool/authpool/penalty/redisstore"
)

// clusterFlags are serve's flags for daemons that share state through
// Redis (README "Running several daemons").
type clusterFlags struct {
	redis        string
	secretFile   string
	redisTimeout time.Duration
}

func (f *clusterFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.redis, "redis", "", "share the penalties, and the answer cache of --cache-ttl and --negative-cache-ttl, with every daemon naming this Redis: redis://[USER[:PASSWORD]@]HOST[:PORT][/DB], rediss://… (TLS) or unix:///PATH; needs --cluster-secret-file; a URL with a password only in the --config file (not readable by others), never on the command line; restart to change")
	fs.StringVar(&f.secretFile, "cluster-secret-file", "", "--redis: the secret every daemon sharing the Redis holds (at least 32 bytes; owned by the daemon's user, mode 0600): it keys every hash kept in Redis; restart to change")
	fs.DurationVar(&f.redisTimeout, "redis-timeout", redisstore.DefaultTimeout, "--redis: longest wait for one Redis call; past it, or on any Redis error, the daemon uses its own penalties, and asks its helpers instead of the cache, until Redis answers again")
}

// checkCommandLine refuses a Redis password on the command line, where
// every local user reads it (ps, /proc/PID/cmdline). It runs on what the
// command line set, before a config file is read.
func (f *clusterFlags) checkCommandLine() error {
	if f.redis != "" && redisstore.HasPassword(f.redis) {
		return errors.New("--redis: a URL with a password on the command line is readable by every local user (ps); put it in the --config file, as redis = \"redis://...\", with the file not readable by others")
	}
	return nil
}

// shared reads the secret file and returns the daemon's Shared settings;
// configFile is --config, which must not be readable by others when it
// holds the Redis URL's password.
func (f *clusterFlags) shared(configFile string) (authpoold.Shared, error) {
	var s authpoold.Shared
	if f.redis == "" {
		switch {
		case f.secretFile != "":
			return s, errors.New("--cluster-secret-file needs --redis: the secret keys what the daemons share in Redis, and there is no Redis")
		case f.redisTimeout != redisstore.DefaultTimeout:
			return s, errors.New("--redis-timeout needs --redis")
		}
		return s, nil
	}
	if redisstore.HasPassword(f.redis) && configFile != "" {
		fi, err := os.Stat(configFile)
		if err != nil {
			return s, fmt.Errorf("--config: %w", err)
		}
		if fi.Mode().Perm()&0o004 != 0 {
			return s, fmt.Errorf("--config %s holds the --redis password and is readable by every user (mode %#o): chmod o-r it", configFile, fi.Mode().Perm())
		}
	}
	if f.secretFile == "" {
		return s, fmt.Errorf("--redis %s needs --cluster-secret-file: every key and mark the daemons keep in Redis is a hash keyed by that secret, which they must share and nobody else may hold",
			redisstore.Redacted(f.redis))
	}
	secret, err := penalty.ReadSecretFile(f.secretFile)
	if err != nil {
		return s, fmt.Errorf("--cluster-secret-file: %w", err)
	}
	return authpoold.Shared{Redis: f.redis, Secret: secret, Timeout: f.redisTimeout}, nil
}

// changed reports whether a reload asks for other cluster settings.
func (f *clusterFlags) changed(o *clusterFlags) bool {
	return f.redis != o.redis || f.secretFile != o.secretFile || f.redisTimeout != o.redisTimeout
}
