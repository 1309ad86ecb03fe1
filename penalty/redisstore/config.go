package redisstore

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/authpool/authpool/internal/redisconn"
	"github.com/authpool/authpool/penalty"
)

// Defaults of Config.
const (
	DefaultTimeout     = redisconn.DefaultTimeout
	DefaultDialTimeout = redisconn.DefaultDialTimeout
	DefaultPrefix      = "authpool:penalty:"
	DefaultProbeMin    = redisconn.DefaultProbeMin
	DefaultProbeMax    = redisconn.DefaultProbeMax
	DefaultLogEvery    = redisconn.DefaultLogEvery
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

// fill checks cfg and fills in its defaults, and returns the options of
// the store's connection but its probe, checked too, without connecting.
func (cfg *Config) fill() (redisconn.Options, error) {
	if err := cfg.check(); err != nil {
		return redisconn.Options{}, err
	}
	o := redisconn.Options{
		URL: cfg.URL, TLS: cfg.TLS, Timeout: cfg.Timeout, DialTimeout: cfg.DialTimeout,
		ProbeMin: cfg.ProbeMin, ProbeMax: cfg.ProbeMax, Logger: cfg.Logger, LogEvery: cfg.LogEvery,
		ErrConfig: ErrConfig,
		What:      "penalty store", Away: "using this daemon's own penalties", Back: "penalties are shared",
	}
	err := o.Check() // fills in o's defaults
	return o, err
}

// check checks what is the store's own in cfg and fills in its defaults;
// the connection's options are redisconn's to check.
func (cfg *Config) check() error {
	switch {
	case cfg.Window < 0:
		return fmt.Errorf("%w: negative duration", ErrConfig)
	case cfg.Window > 0 && cfg.Window < time.Millisecond:
		return fmt.Errorf("%w: window %v under a millisecond, Redis's expiry unit", ErrConfig, cfg.Window)
	case cfg.MaxKeys < 0:
		return fmt.Errorf("%w: negative MaxKeys", ErrConfig)
	}
	redisconn.Default(&cfg.Window, penalty.DefaultWindow)
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.MaxKeys == 0 {
		cfg.MaxKeys = penalty.DefaultMaxKeys
	}
	return nil
}

// ACLCommands are the commands the store runs, directly or from its
// scripts, in the form of a Redis ACL rule: with the key pattern of its
// prefix they make a Redis user that can do nothing else (see the package
// doc).
const ACLCommands = "+eval +evalsha +eval_ro +evalsha_ro +del +hmget +hset +pexpire +time " + redisconn.BaseACLCommands
