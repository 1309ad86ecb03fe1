package cache_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/authpool/authpool/cache"
	"github.com/authpool/authpool/framing"
	"github.com/authpool/authpool/pool"
)

// The cache in front of a pool of the sample helper, as authpool serve
// wires it when --cache-ttl is set: the second login is answered without
// the helper, and a setpass through the cache forgets the old password.
func Example() {
	// sample.py keeps users, and password changes, in a file every helper
	// process reads.
	dir, err := os.MkdirTemp("", "authpool-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	users := filepath.Join(dir, "users.txt")
	if err := os.WriteFile(users, []byte("alice@example.com:wonderland\n"), 0o600); err != nil {
		panic(err)
	}
	p, err := pool.New(pool.Config{Command: []string{"../testscripts/sample.py", users}})
	if err != nil {
		panic(err)
	}
	defer p.Close()
	c, err := cache.New(cache.Config{Next: p, TTL: time.Minute, NegativeTTL: 10 * time.Second})
	if err != nil {
		panic(err)
	}

	ask := func(op framing.Op, password string) bool {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		yes, err := c.Do(ctx, framing.Request{Op: op, User: "alice", Server: "example.com", Password: password})
		if err != nil {
			panic(err)
		}
		return yes
	}
	fmt.Println(ask(framing.OpAuth, "wonderland"))
	fmt.Println(ask(framing.OpAuth, "wonderland"))
	fmt.Printf("%+v\n", c.Stats())

	fmt.Println(ask(framing.OpSetPass, "looking-glass"))
	fmt.Println(ask(framing.OpAuth, "wonderland"))
	fmt.Println(ask(framing.OpAuth, "looking-glass"))
	fmt.Printf("%+v\n", c.Stats())
	// Output:
	// true
	// true
	// {Hits:1 Misses:1 Entries:1 Evictions:0 Invalidations:0 StoreErrors:0 Fallbacks:0}
	// true
	// false
	// true
	// {Hits:1 Misses:3 Entries:2 Evictions:0 Invalidations:1 StoreErrors:0 Fallbacks:0}
}
