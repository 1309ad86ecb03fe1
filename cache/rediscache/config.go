package rediscache

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"time"

	"github.com/authpool/authpool/internal/redisconn"
)

// Defaults of Config.
const (
	DefaultTimeout     = redisconn.DefaultTimeout
	DefaultDialTimeout = redisconn.DefaultDialTimeout
	DefaultPrefix      = "authpool:cache:"
	DefaultProbeMin    = redisconn.DefaultProbeMin
	DefaultProbeMax    = redisconn.DefaultProbeMax
	DefaultLogEvery    = redisconn.DefaultLogEvery
)

// Config configures New. URL is required; every zero value has the default
// its comment gives. The cache's keys are computed by cache.Cache under
// its Config.Secret, the cluster's secret: this store is never told it.
type Config struct {
	// URL names the Redis server (--redis), as redisstore.Config.URL:
	// redis://, rediss:// or unix:///path, with the same parameters
	// refused.
	URL string
	// TLS replaces the TLS configuration a rediss:// URL implies. Nil
	// keeps it. Refused with another scheme.
	TLS *tls.Config
	// Timeout bounds every Redis call a request waits for. Zero means
	// DefaultTimeout (100 ms).
	Timeout time.Duration
	// DialTimeout bounds connecting to Redis, which no request waits for
	// (the health probe connects). Zero means DefaultDialTimeout.
	DialTimeout time.Duration
	// Prefix starts the name of every key the store writes. Zero means
	// DefaultPrefix. It must differ from the penalty store's.
	Prefix string
	// ProbeMin and ProbeMax bound the health probe's backoff while Redis
	// is away. Zero means DefaultProbeMin and DefaultProbeMax.
	ProbeMin, ProbeMax time.Duration
	// Logger receives a line when the store stops using Redis and when it
	// goes back, each kind at most once per LogEvery. Nil means no log.
	Logger *slog.Logger
	// LogEvery spaces the lines of one kind. Zero means DefaultLogEvery.
	LogEvery time.Duration
}

// ErrConfig wraps every error New returns for a bad Config.
var ErrConfig = errors.New("rediscache: bad configuration")

// Check reports whether New would take cfg, without connecting: a daemon
// refuses a bad --redis before it starts anything. Its errors never hold
// the URL's password.
func (cfg Config) Check() error {
	_, err := cfg.fill()
	return err
}

// fill fills in cfg's defaults and returns the options of the store's
// connection but its probe, checked, without connecting.
func (cfg *Config) fill() (redisconn.Options, error) {
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	o := redisconn.Options{
		URL: cfg.URL, TLS: cfg.TLS, Timeout: cfg.Timeout, DialTimeout: cfg.DialTimeout,
		ProbeMin: cfg.ProbeMin, ProbeMax: cfg.ProbeMax, Logger: cfg.Logger, LogEvery: cfg.LogEvery,
		ErrConfig: ErrConfig,
		What:      "answer cache", Away: "asking the helpers without the shared cache", Back: "answers are shared",
	}
	err := o.Check() // fills in o's defaults
	return o, err
}

// ACLCommands are the commands the store runs, directly or from its
// scripts, in the form of a Redis ACL rule: with the key pattern of its
// prefix (~authpool:cache:*) they make a Redis user that can do nothing
// else (see the package doc).
const ACLCommands = "+eval +evalsha +get +set +del +pexpire " + redisconn.BaseACLCommands
