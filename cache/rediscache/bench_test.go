package rediscache_test

import (
	"context"
	"testing"
	"time"

	"github.com/authpool/authpool/cache/cachetest"
	"github.com/authpool/authpool/cache/rediscache"
	"github.com/authpool/authpool/penalty/redisstore/redistest"
)

// BenchmarkHit is a hit on Redis over a unix socket: one round trip.
func BenchmarkHit(b *testing.B) {
	srv := redistest.Start(b, redistest.Options{})
	s, err := rediscache.New(rediscache.Config{URL: srv.URL(), Timeout: patient})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	c := cachetest.NewCache(b, cachetest.NewHelper(), s, time.Hour, time.Hour)
	req := cachetest.Auth("alice", cachetest.Passwords["alice"])
	c.Do(context.Background(), req)
	b.ReportAllocs()
	for b.Loop() {
		c.Do(context.Background(), req)
	}
	if st := c.Stats(); st.StoreErrors != 0 || st.Hits < uint64(b.N) {
		b.Errorf("stats %+v", st)
	}
}
