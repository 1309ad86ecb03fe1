package redisstore

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/valkey-io/valkey-go"

	"github.com/authpool/authpool/penalty"
)

// Defaults of Config.
const (
	DefaultTimeout     = 100 * time.Millisecond
	DefaultDialTimeout = time.Second
	DefaultPrefix      = "authpool:penalty:"
	DefaultProbeMin    = 100 * time.Millisecond
	DefaultProbeMax    = 5 * time.Second
	DefaultLogEvery    = 10 * time.Second
)

// Config configures New. URL is required; every zero value has the default
// its comment gives.
type Config struct {
	// URL names the Redis server (--redis): redis://[[user]:password@]host[:port][/db],
	// rediss://… for TLS (the system's roots, the URL's host as the
	// server name), or unix:///path/to/socket[?db=N]. Query parameters
	// other than db, dial_timeout, write_timeout and client_name are
	// refused; among them skip_verify, which would turn TLS verification
	// off without a flag saying so.
	URL string
	// TLS replaces the TLS configuration a rediss:// URL implies (a
	// private CA, a client certificate). Nil keeps it. Refused with
	// another scheme.
	TLS *tls.Config
	// Window is how long a key lives after its last failure: its expiry
	// in Redis and the window of the local store. Zero means
	// penalty.DefaultWindow (--penalty-window).
	Window time.Duration
	// Timeout bounds every Redis call a login waits for. Zero means
	// DefaultTimeout (100 ms).
	Timeout time.Duration
	// DialTimeout bounds connecting to Redis, which no login waits for
	// (the health probe connects). Zero means DefaultDialTimeout.
	DialTimeout time.Duration
	// Prefix starts the name of every key the store writes. Zero means
	// DefaultPrefix.
	Prefix string
	// MaxKeys bounds the local store. Zero means penalty.DefaultMaxKeys
	// (--penalty-max-keys).
	MaxKeys int
	// ProbeMin and ProbeMax bound the health probe's backoff while Redis
	// is away: the first probe at once, the next after ProbeMin, doubling
	// to ProbeMax. Zero means DefaultProbeMin and DefaultProbeMax.
	ProbeMin, ProbeMax time.Duration
	// Logger receives a line when the store falls back to its local
	// penalties and when it goes back to Redis, each kind at most once per
	// LogEvery. Nil means no log.
	Logger *slog.Logger
	// LogEvery spaces the lines of one kind. Zero means DefaultLogEvery.
	LogEvery time.Duration
	// Now replaces Redis's clock (TIME) in the scripts, and the local
	// store's clock, for tests: the conformance suite moves time by hand.
	// Never set it in a daemon: daemons sharing a Redis must share its
	// clock. Nil means Redis's clock.
	Now func() time.Time
}

// ErrConfig wraps every error New returns for a bad Config.
var ErrConfig = errors.New("redisstore: bad configuration")

// allowedQuery are the URL query parameters taken. The others change what
// the client does in ways the store is not built for (client-side caching,
// retries of a script that must run once, another protocol, several
// servers, Sentinel) or open what must stay closed (skip_verify).
var allowedQuery = map[string]bool{"db": true, "dial_timeout": true, "write_timeout": true, "client_name": true}

func (cfg *Config) fill() (valkey.ClientOption, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...)
	}
	switch {
	case cfg.Window < 0, cfg.Timeout < 0, cfg.DialTimeout < 0, cfg.ProbeMin < 0, cfg.ProbeMax < 0, cfg.LogEvery < 0:
		return valkey.ClientOption{}, bad("negative duration")
	case cfg.Window > 0 && cfg.Window < time.Millisecond:
		return valkey.ClientOption{}, bad("window %v under a millisecond, Redis's expiry unit", cfg.Window)
	case cfg.MaxKeys < 0:
		return valkey.ClientOption{}, bad("negative MaxKeys")
	}
	opt, err := parseURL(cfg.URL)
	if err != nil {
		return opt, err
	}
	if cfg.TLS != nil {
		if opt.TLSConfig == nil {
			return opt, bad("a TLS configuration for a URL that is not rediss://")
		}
		opt.TLSConfig = cfg.TLS.Clone()
	}
	fill(&cfg.Window, penalty.DefaultWindow)
	fill(&cfg.Timeout, DefaultTimeout)
	fill(&cfg.DialTimeout, DefaultDialTimeout)
	fill(&cfg.ProbeMin, DefaultProbeMin)
	fill(&cfg.ProbeMax, DefaultProbeMax)
	fill(&cfg.LogEvery, DefaultLogEvery)
	if cfg.ProbeMax < cfg.ProbeMin {
		return opt, bad("ProbeMax %v below ProbeMin %v", cfg.ProbeMax, cfg.ProbeMin)
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.MaxKeys == 0 {
		cfg.MaxKeys = penalty.DefaultMaxKeys
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	// The store's own rules, whatever the URL said: no client-side cache
	// (nothing here reads a key twice), no retry (a Fail script retried
	// after a timeout could count one failure twice; the store falls back
	// instead), one server, and connecting bounded.
	opt.DisableCache = true
	opt.DisableRetry = true
	// One server, never guessed to be a Cluster: the guess leaves a
	// goroutine of the client's behind when the server does not answer.
	opt.ForceSingleClient = true
	if opt.Dialer.Timeout == 0 {
		opt.Dialer.Timeout = cfg.DialTimeout
	}
	return opt, nil
}

func fill(d *time.Duration, def time.Duration) {
	if *d == 0 {
		*d = def
	}
}

// parseURL checks and parses a Redis URL. Its errors never hold the URL's
// password: a URL is shown redacted, or not at all.
func parseURL(raw string) (valkey.ClientOption, error) {
	var none valkey.ClientOption
	if raw == "" {
		return none, fmt.Errorf("%w: no Redis URL", ErrConfig)
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error quotes the whole URL, password and all.
		return none, fmt.Errorf("%w: the Redis URL does not parse as a URL", ErrConfig)
	}
	shown := u.Redacted()
	switch u.Scheme {
	case "redis", "rediss", "unix":
	default:
		return none, fmt.Errorf("%w: Redis URL %s: scheme %q, want redis, rediss or unix", ErrConfig, shown, u.Scheme)
	}
	if u.Scheme == "unix" && u.Host != "" {
		return none, fmt.Errorf("%w: Redis URL %s: a socket path must be absolute: unix:///path", ErrConfig, shown)
	}
	for k := range u.Query() {
		if !allowedQuery[k] {
			return none, fmt.Errorf("%w: Redis URL %s: parameter %q not taken", ErrConfig, shown, k)
		}
	}
	opt, err := valkey.ParseURL(raw)
	if err != nil {
		msg := err.Error()
		if p, ok := u.User.Password(); ok && p != "" {
			msg = strings.ReplaceAll(msg, p, "xxxxx")
		}
		return none, fmt.Errorf("%w: Redis URL %s: %s", ErrConfig, shown, msg)
	}
	if u.Scheme == "unix" && (len(opt.InitAddress) != 1 || !strings.HasPrefix(opt.InitAddress[0], "/")) {
		return none, fmt.Errorf("%w: Redis URL %s: no socket path", ErrConfig, shown)
	}
	return opt, nil
}

// ACLCommands are the commands the store runs, directly or from its
// scripts, in the form of a Redis ACL rule: with the key pattern of its
// prefix they make a Redis user that can do nothing else (see the package
// doc).
const ACLCommands = "+eval +evalsha +eval_ro +evalsha_ro +del +hmget +hset +pexpire +time +hello +auth +client|setname +select +ping"
