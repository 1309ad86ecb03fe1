package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/authpool/authpool/metrics"
	"github.com/authpool/authpool/penalty"
	"github.com/authpool/authpool/penalty/redisstore"
)

// Shared is what daemons that name the same Redis share: the penalties
// (package penalty/redisstore) and, once the shared answer cache is in,
// the cache; both key every hash they write there under Secret.
type Shared struct {
	// Redis, when set, is the Redis URL (--redis): redis://, rediss://
	// or unix://. Empty means nothing is shared: each daemon keeps its
	// own penalties and cache.
	Redis string
	// Secret keys every hash the daemons write to Redis
	// (--cluster-secret-file, penalty.ReadSecretFile): the same on every
	// daemon, at least penalty.MinSecret bytes. Required with Redis, and
	// refused without it. It replaces Penalty.Secret.
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
	case !s.shares(cfg):
		return fmt.Errorf("%w %s: nothing to share: --penalty-base 0 turns the penalties off, and the answer cache is this daemon's own; drop --redis, or turn the penalties on",
			errShared, redisstore.Redacted(s.Redis))
	}
	return s.penaltyStore(cfg, nil).Check()
}

// shares reports whether anything goes through Redis with cfg: today the
// penalties, when they are on.
func (s *Shared) shares(cfg *Config) bool { return s.Redis != "" && !cfg.Penalty.Off }

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

// openPenalties connects the penalty store (New returns once it has tried
// Redis once, at most about a second later; a Redis that is away is no
// error: the store starts on this daemon's own penalties and goes on
// trying), adds its metrics, and returns it and the function that reports
// it in /status.
func (s *Shared) openPenalties(cfg *Config, m *metrics.Metrics, log *slog.Logger) (*redisstore.Store, func() *SharedStatus, error) {
	store, err := redisstore.New(s.penaltyStore(cfg, log))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", errShared, err)
	}
	m.WatchRedis("penalty", func() metrics.RedisStats {
		st := store.Stats()
		return metrics.RedisStats{InUse: st.Mode == redisstore.ModeRedis, Errors: st.Errors,
			Fallbacks: st.Fallbacks, Recoveries: st.Recoveries, ProbeErrors: st.ProbeErrors}
	})
	log.Info("penalties shared through Redis", "redis", redisstore.Redacted(s.Redis), "in_use", store.Stats().Mode == redisstore.ModeRedis)
	status := func() *SharedStatus {
		st := store.Stats()
		return &SharedStatus{Penalties: st.Mode.String(), Errors: st.Errors, Fallbacks: st.Fallbacks, Recoveries: st.Recoveries}
	}
	return store, status, nil
}

// SharedStatus is where the state shared through Redis is kept now.
type SharedStatus struct {
	// Penalties is "redis" while penalties are shared, "local" while the
	// daemon falls back on its own because Redis is away.
	Penalties  string `json:"penalties"`
	Errors     uint64 `json:"redis_errors"`
	Fallbacks  uint64 `json:"fallbacks"`
	Recoveries uint64 `json:"recoveries"`
}
