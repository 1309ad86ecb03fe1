// Package redisconn is the Redis connection that the shared stores
// (penalty/redisstore, cache/rediscache) have in common: the checks of a
// --redis URL, the client's options, and a connection that is either in
// use or away, with the health probe that brings it back. Each store
// decides what a probe checks and what it does meanwhile; this package
// decides when Redis is asked and when it is not.
package redisconn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/valkey-io/valkey-go"
)

// Defaults of Options.
const (
	DefaultTimeout     = 100 * time.Millisecond
	DefaultDialTimeout = time.Second
	DefaultProbeMin    = 100 * time.Millisecond
	DefaultProbeMax    = 5 * time.Second
	DefaultLogEvery    = 10 * time.Second
)

// ErrConfig wraps every error Open returns for bad Options, besides the
// caller's own Options.ErrConfig.
var ErrConfig = errors.New("redis: bad configuration")

// Options configure Open. URL is required, and Probe for Open; every zero duration
// has the default its constant gives. The field comments of the stores'
// Configs say what each means to an operator.
type Options struct {
	URL                string
	TLS                *tls.Config
	Timeout            time.Duration
	DialTimeout        time.Duration
	ProbeMin, ProbeMax time.Duration
	Logger             *slog.Logger
	LogEvery           time.Duration
	// ErrConfig, when set, is wrapped by every configuration error as
	// well, so that a store's callers can test for the store's own.
	ErrConfig error
	// What names the store in log lines ("penalty store").
	What string
	// Away ends the line logged when Redis fails: what the store does
	// meanwhile ("using this daemon's own penalties").
	Away string
	// Back ends the line logged when Redis answers again ("penalties are
	// shared").
	Back string
	// Probe checks, with a connected client and a context bounded by
	// Timeout, that Redis takes the store's calls. The connection goes
	// back in use only when it returns nil.
	Probe func(ctx context.Context, c valkey.Client) error
}

// allowedQuery are the URL query parameters taken. The others change what
// the client does in ways the stores are not built for (client-side
// caching, retries of a script that must run once, another protocol,
// several servers, Sentinel) or open what must stay closed (skip_verify).
var allowedQuery = map[string]bool{"db": true, "dial_timeout": true, "write_timeout": true, "client_name": true}

func (o *Options) bad(format string, args ...any) error {
	if o.ErrConfig != nil {
		return fmt.Errorf("%w: %w: "+format, append([]any{o.ErrConfig, ErrConfig}, args...)...)
	}
	return fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...)
}

// Check checks o and fills in its defaults, as Open does, without
// connecting: a daemon refuses a bad --redis before it starts anything.
// Its errors never hold the URL's password.
func (o *Options) Check() error {
	_, err := o.fill()
	return err
}

// fill checks o, fills in its defaults and returns the client's options.
func (o *Options) fill() (valkey.ClientOption, error) {
	if o.Timeout < 0 || o.DialTimeout < 0 || o.ProbeMin < 0 || o.ProbeMax < 0 || o.LogEvery < 0 {
		return valkey.ClientOption{}, o.bad("negative duration")
	}
	opt, err := o.parseURL()
	if err != nil {
		return opt, err
	}
	if o.TLS != nil {
		if opt.TLSConfig == nil {
			return opt, o.bad("a TLS configuration for a URL that is not rediss://")
		}
		opt.TLSConfig = o.TLS.Clone()
	}
	Default(&o.Timeout, DefaultTimeout)
	Default(&o.DialTimeout, DefaultDialTimeout)
	Default(&o.ProbeMin, DefaultProbeMin)
	Default(&o.ProbeMax, DefaultProbeMax)
	Default(&o.LogEvery, DefaultLogEvery)
	if o.ProbeMax < o.ProbeMin {
		return opt, o.bad("ProbeMax %v below ProbeMin %v", o.ProbeMax, o.ProbeMin)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	// The stores' own rules, whatever the URL said: no client-side cache
	// (a store that wants one turns it on itself), no retry (a script
	// retried after a timeout could run twice; the stores fall back
	// instead), one server, and connecting bounded.
	opt.DisableCache = true
	opt.DisableRetry = true
	// One server, never guessed to be a Cluster: the guess leaves a
	// goroutine of the client's behind when the server does not answer.
	opt.ForceSingleClient = true
	if opt.Dialer.Timeout == 0 {
		opt.Dialer.Timeout = o.DialTimeout
	}
	return opt, nil
}

// Default sets *d to def when it is zero.
func Default(d *time.Duration, def time.Duration) {
	if *d == 0 {
		*d = def
	}
}

// parseURL checks and parses a Redis URL. Its errors never hold the URL's
// password: a URL is shown redacted, or not at all.
func (o *Options) parseURL() (valkey.ClientOption, error) {
	var none valkey.ClientOption
	raw := o.URL
	if raw == "" {
		return none, o.bad("no Redis URL")
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error quotes the whole URL, password and all.
		return none, o.bad("the Redis URL does not parse as a URL")
	}
	shown := u.Redacted()
	switch u.Scheme {
	case "redis", "rediss", "unix":
	default:
		return none, o.bad("Redis URL %s: scheme %q, want redis, rediss or unix", shown, u.Scheme)
	}
	if u.Scheme == "unix" && u.Host != "" {
		return none, o.bad("Redis URL %s: a socket path must be absolute: unix:///path", shown)
	}
	for k := range u.Query() {
		if !allowedQuery[k] {
			return none, o.bad("Redis URL %s: parameter %q not taken", shown, k)
		}
	}
	opt, err := valkey.ParseURL(raw)
	if err != nil {
		msg := err.Error()
		if p, ok := u.User.Password(); ok && p != "" {
			msg = strings.ReplaceAll(msg, p, "xxxxx")
		}
		return none, o.bad("Redis URL %s: %s", shown, msg)
	}
	if u.Scheme == "unix" && (len(opt.InitAddress) != 1 || !strings.HasPrefix(opt.InitAddress[0], "/")) {
		return none, o.bad("Redis URL %s: no socket path", shown)
	}
	return opt, nil
}

// BaseACLCommands are the commands every store's connection runs besides
// its own: connecting, choosing the database, the health probe's ping.
const BaseACLCommands = "+hello +auth +client|setname +select +ping"
