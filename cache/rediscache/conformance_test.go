package rediscache_test

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authpool/authpool/cache/cachetest"
	"github.com/authpool/authpool/cache/rediscache"
	"github.com/authpool/authpool/penalty/redisstore/redistest"
)

// The Redis store passes the suite every store passes, every call
// answered by Redis (none skipped the shared cache, which would pass
// most of it too), over a unix socket and over TCP; its two instances
// are two stores, two connections, on one Redis. Then nothing the suite
// told Redis is a password, a name, or an unkeyed hash of either.
func TestConformance(t *testing.T) {
	for _, tcp := range []bool{false, true} {
		t.Run(map[bool]string{false: "unix", true: "tcp"}[tcp], func(t *testing.T) {
			srv := redistest.Start(t, redistest.Options{TCP: tcp, Monitor: !tcp})
			var n atomic.Int64
			cachetest.Run(t, fixtureOn(srv.URL(), &n))
			if !tcp {
				checkNothingSecret(t, srv)
			}
		})
	}
}

// fixtureOn makes fixtures of two stores on url, each fixture under a
// prefix of its own.
func fixtureOn(url string, n *atomic.Int64) cachetest.NewFixture {
	return func(t *testing.T) cachetest.Fixture {
		cfg := rediscache.Config{URL: url, Timeout: patient, Prefix: fmt.Sprintf("authpool:cache:%d:", n.Add(1))}
		a, b := newStore(t, cfg), newStore(t, cfg)
		for _, s := range []*rediscache.Store{a, b} {
			if st := s.Stats(); st.Mode != rediscache.ModeRedis {
				t.Fatalf("the store did not start on Redis: %+v", st)
			}
			t.Cleanup(func() {
				if st := s.Stats(); st.Errors != 0 || st.Fallbacks != 0 {
					t.Errorf("not every call was answered by Redis: %+v", st)
				}
			})
		}
		return cachetest.Fixture{A: a, B: b, Advance: time.Sleep}
	}
}

// The store works as a Redis user that may run its scripts on its own
// keys and nothing else: the ACL the package doc gives.
func TestLeastPrivilegeUser(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{TCP: true})
	acl := append([]string{"ACL", "SETUSER", "authpool", "reset", "on", ">pw-of-authpool", "~authpool:cache:*"},
		strings.Fields(rediscache.ACLCommands)...)
	if err := srv.Do(acl...).Error(); err != nil {
		t.Fatalf("%v: %v", acl, err)
	}
	url := strings.Replace(srv.URL(), "redis://", "redis://authpool:pw-of-authpool@", 1)
	var n atomic.Int64
	cachetest.Run(t, fixtureOn(url, &n))
}
