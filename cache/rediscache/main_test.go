package rediscache_test

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/authpool/authpool/cache"
	"github.com/authpool/authpool/cache/cachetest"
	"github.com/authpool/authpool/cache/rediscache"
	"github.com/authpool/authpool/internal/testutil"
	"github.com/authpool/authpool/penalty/redisstore/redistest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// patient is the Redis timeout of tests that are not about timeouts: the
// race detector under a full test run can hold a call up past the
// daemon's 100 ms, which would send the store away from Redis and the
// test to check the helper instead.
const patient = 5 * time.Second

// newStore makes a store closed when t ends, which must not take long.
func newStore(t *testing.T, cfg rediscache.Config) *rediscache.Store {
	t.Helper()
	s, err := rediscache.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	redistest.CloseAtCleanup(t, s)
	return s
}

// waitMode waits, at most for limit, until s is in mode m.
func waitMode(t *testing.T, s *rediscache.Store, m rediscache.Mode, limit time.Duration) {
	t.Helper()
	redistest.WaitFor(t, limit, func() bool { return s.Stats().Mode == m },
		func() string { return fmt.Sprintf("the store is not in mode %v: %+v", m, s.Stats()) })
}

// daemon is what a daemon of a cluster has of the cache: a Cache in front
// of the helper, on a Store of its own on the shared Redis.
type daemon struct {
	c     *cache.Cache
	store *rediscache.Store
	log   *testutil.SyncBuffer
}

// cluster makes n daemons in front of h, each with a store made from
// scfg, caching yes and no for an hour.
func cluster(t *testing.T, n int, h cache.Doer, scfg rediscache.Config) []daemon {
	t.Helper()
	ds := make([]daemon, n)
	for i := range ds {
		log := &testutil.SyncBuffer{}
		c := scfg
		c.Logger = slog.New(slog.NewTextHandler(log, nil))
		store := newStore(t, c)
		ds[i] = daemon{c: cachetest.NewCache(t, h, store, time.Hour, time.Hour), store: store, log: log}
	}
	return ds
}
