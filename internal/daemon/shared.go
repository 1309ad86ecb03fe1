package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/authpool/authpool/cache/rediscache"
	"github.com/authpool/authpool/internal/redisconn"
	"github.com/authpool/authpool/metrics"
	"github.com/authpool/authpool/penalty"
	"github.com/authpool/authpool/penalty/redisstore"
)

// Shared is what daemons that name the same Redis share: the penalties
// (package penalty/redisstore), when they are on, and the answer cache
// (package cache/rediscache), when there is one; both key every hash
// they write there under Secret.
type Shared struct {
	// Redis, when set, is the Redis URL (--redis): redis://, rediss://
	// or unix://. Empty means nothing is shared: each daemon keeps its
	// own penalties and cache.
	Redis string
	// Secret keys every hash the daemons write to Redis
	// (--cluster-secret-file, penalty.ReadSecretFile): the same on every
	// daemon, at least penalty.MinSecret bytes. Required with Redis, and
	// refused without it. It replaces Penalty.Secret, and is the cache's
	// Secret.
	Secret []byte
	// Timeout bounds every Redis call a request waits for; zero means
	// redisstore.DefaultTimeout (100 ms, --redis-timeout).
	Timeout time.Duration
}

var errShared = errors.New("--redis")

// check refuses a Shared that cannot work, naming serve's flags, before
// the daemon starts anything. It never shows the URL's password.
func (s *Shared) check(cfg *Config) error {
	switch {
	case s.Redis == "" && s.Secret != nil:
		return errors.New("--cluster-secret-file needs --redis: the secret keys what the daemons share in Redis, and there is no Redis")
	case s.Redis == "" && s.Timeout != 0:
		return errors.New("--redis-timeout needs --redis")
	case s.Redis == "":
		return nil
	case s.Secret == nil:
		return fmt.Errorf("%w %s needs --cluster-secret-file: every key and mark the daemons keep in Redis is a hash keyed by that secret, which they must share and nobody else may hold",
			errShared, redisstore.Redacted(s.Redis))
	case len(s.Secret) < penalty.MinSecret:
		return fmt.Errorf("--cluster-secret-file: a secret of %d bytes, want at least %d", len(s.Secret), penalty.MinSecret)
	case s.Timeout < 0:
		return errors.New("--redis-timeout cannot be negative")
	case cfg.Penalty.Off && !cacheOn(cfg):
		return fmt.Errorf("%w %s: nothing to share: --penalty-base 0 turns the penalties off, and there is no answer cache (--cache-ttl, --negative-cache-ttl); drop --redis, or turn one on",
			errShared, redisstore.Redacted(s.Redis))
	}
	if err := s.penaltyStore(cfg, nil).Check(); err != nil {
		return err
	}
	return s.cacheStore(nil).Check()
}

// cacheOn reports whether cfg puts an answer cache in front of the pool.
func cacheOn(cfg *Config) bool { return cfg.CacheTTL > 0 || cfg.NegativeCacheTTL > 0 }

// penaltyStore is the penalty store's configuration.
func (s *Shared) penaltyStore(cfg *Config, log *slog.Logger) redisstore.Config {
	return redisstore.Config{
		URL:     s.Redis,
		Window:  cfg.Penalty.Window,
		MaxKeys: cfg.Penalty.MaxKeys,
		Timeout: s.Timeout,
		Logger:  log,
	}
}

// cacheStore is the shared answer cache's configuration.
func (s *Shared) cacheStore(log *slog.Logger) rediscache.Config {
	return rediscache.Config{URL: s.Redis, Timeout: s.Timeout, Logger: log}
}

// The stores connect in New, which returns once it has tried Redis once,
// at most about a second later; a Redis that is away is no error: the
// store starts without it (the daemon's own penalties; a cache that asks
// the helpers) and goes on trying.

// openPenalties connects the penalty store and adds its metrics and its
// line of /status.
func (s *Shared) openPenalties(cfg *Config, m *metrics.Metrics, log *slog.Logger, st *sharedState) (*redisstore.Store, error) {
	store, err := redisstore.New(s.penaltyStore(cfg, log))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errShared, err)
	}
	st.penalties = s.opened(m, log, "penalty", "penalties shared through Redis", func() redisconn.Stats {
		c := store.Stats()
		return redisconn.Stats{Mode: c.Mode, Errors: c.Errors, Fallbacks: c.Fallbacks, Recoveries: c.Recoveries, ProbeErrors: c.ProbeErrors}
	})
	return store, nil
}

// openCache connects the shared answer cache's store and adds its metrics
// and its line of /status.
func (s *Shared) openCache(m *metrics.Metrics, log *slog.Logger, st *sharedState) (*rediscache.Store, error) {
	store, err := rediscache.New(s.cacheStore(log))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errShared, err)
	}
	st.cache = s.opened(m, log, "cache", "answer cache shared through Redis", func() redisconn.Stats {
		c := store.Stats()
		return redisconn.Stats{Mode: c.Mode, Errors: c.Errors, Fallbacks: c.Fallbacks, Recoveries: c.Recoveries, ProbeErrors: c.ProbeErrors}
	})
	return store, nil
}

// opened logs that a shared store is open, exports its stats as metrics
// labelled store=name, and returns its status.
func (s *Shared) opened(m *metrics.Metrics, log *slog.Logger, name, msg string, stats func() redisconn.Stats) func() *RedisStatus {
	log.Info(msg, "redis", redisstore.Redacted(s.Redis), "in_use", stats().Mode == redisconn.ModeRedis)
	m.WatchRedis(name, func() metrics.RedisStats {
		c := stats()
		return metrics.RedisStats{InUse: c.Mode == redisconn.ModeRedis, Errors: c.Errors,
			Fallbacks: c.Fallbacks, Recoveries: c.Recoveries, ProbeErrors: c.ProbeErrors}
	})
	return func() *RedisStatus {
		c := stats()
		return &RedisStatus{Mode: c.Mode.String(), Errors: c.Errors, Fallbacks: c.Fallbacks, Recoveries: c.Recoveries}
	}
}

// sharedState is how the daemon reports what it shares; nil funcs for
// what it does not.
type sharedState struct{ penalties, cache func() *RedisStatus }

// status is the daemon's SharedStatus, or nil when it shares nothing.
func (st *sharedState) status() *SharedStatus {
	if st.penalties == nil && st.cache == nil {
		return nil
	}
	var r SharedStatus
	if st.penalties != nil {
		r.Penalties = st.penalties()
	}
	if st.cache != nil {
		r.Cache = st.cache()
	}
	return &r
}

// SharedStatus is what the daemon shares through Redis (--redis), and
// whether Redis is in use for it now.
type SharedStatus struct {
	Penalties *RedisStatus `json:"penalties,omitempty"`
	Cache     *RedisStatus `json:"cache,omitempty"`
}

// RedisStatus is one shared store's state.
type RedisStatus struct {
	// Mode is "redis" while the store uses Redis, "local" while the
	// daemon does without because Redis is away (its own penalties; a
	// cache that asks the helpers).
	Mode       string `json:"mode"`
	Errors     uint64 `json:"redis_errors"`
	Fallbacks  uint64 `json:"fallbacks"`
	Recoveries uint64 `json:"recoveries"`
}
