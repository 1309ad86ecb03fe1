package redisstore_test

import (
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authpool/authpool/penalty"
	"github.com/authpool/authpool/penalty/redisstore"
	"github.com/authpool/authpool/penalty/redisstore/redistest"
	"github.com/authpool/authpool/penalty/storetest"
)

// The Redis store passes the suite every store passes, every call
// answered by Redis (none fell back on the local store, which would pass
// it too), over a unix socket and over TCP.
func TestConformance(t *testing.T) {
	for _, tcp := range []bool{false, true} {
		t.Run(map[bool]string{false: "unix", true: "tcp"}[tcp], func(t *testing.T) {
			srv := redistest.Start(t, redistest.Options{TCP: tcp})
			var n atomic.Int64
			storetest.Run(t, func(t *testing.T, o storetest.Options) penalty.Store {
				s := newStore(t, redisstore.Config{
					URL: srv.URL(), Window: o.Window, Now: o.Now, Timeout: patient,
					Prefix: fmt.Sprintf("conformance:%d:", n.Add(1)),
				})
				if st := s.Stats(); st.Mode != redisstore.ModeRedis {
					t.Fatalf("the store did not start on Redis: %+v", st)
				}
				t.Cleanup(func() {
					if st := s.Stats(); st.Mode != redisstore.ModeRedis || st.Errors != 0 || st.Fallbacks != 0 {
						t.Errorf("not every call was answered by Redis: %+v", st)
					}
				})
				return s
			})
		})
	}
}

// With Redis away from the start, the store is its local store, which
// passes the suite too.
func TestConformanceRedisAway(t *testing.T) {
	url := "unix://" + filepath.Join(t.TempDir(), "nobody.sock")
	storetest.Run(t, func(t *testing.T, o storetest.Options) penalty.Store {
		s := newStore(t, redisstore.Config{URL: url, Window: o.Window, Now: o.Now, ProbeMax: time.Second})
		if st := s.Stats(); st.Mode != redisstore.ModeLocal || st.ProbeErrors == 0 {
			t.Fatalf("a store without Redis: %+v, want local after a failed probe", st)
		}
		return s
	})
}
