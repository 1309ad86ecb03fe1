package rediscache_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/authpool/authpool/cache"
	"github.com/authpool/authpool/cache/cachetest"
	"github.com/authpool/authpool/cache/rediscache"
	"github.com/authpool/authpool/framing"
)

// A daemon's cache on a Redis that does not answer: every login still
// gets the helper's answer, at once, and nothing is kept until Redis is
// back. With a Redis up, the same wiring shares answers and changes with
// every daemon on it.
func Example() {
	dir, err := os.MkdirTemp("", "rediscache-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	store, err := rediscache.New(rediscache.Config{URL: "unix://" + filepath.Join(dir, "no-redis.sock")})
	if err != nil {
		panic(err)
	}
	defer store.Close() // after the cache's last request

	// The cluster's secret: penalty.ReadSecretFile(--cluster-secret-file).
	secret := cachetest.Secret
	c, err := cache.New(cache.Config{Next: cachetest.NewHelper(), TTL: time.Minute, NegativeTTL: 10 * time.Second,
		Store: store, Secret: secret})
	if err != nil {
		panic(err)
	}
	for _, pw := range []string{"wonderland-Qx7", "wonderland-Qx7", "wrong"} {
		yes, err := c.Do(context.Background(), framing.Request{Op: framing.OpAuth, User: "alice", Server: "example.com", Password: pw})
		fmt.Println(yes, err)
	}
	st := c.Stats()
	fmt.Printf("mode %v, hits %d, misses %d\n", store.Stats().Mode, st.Hits, st.Misses)
	// Output:
	// true <nil>
	// true <nil>
	// false <nil>
	// mode local, hits 0, misses 3
}
