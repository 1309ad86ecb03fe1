package redisstore_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/authpool/authpool/framing"
	"github.com/authpool/authpool/internal/testutil"
	"github.com/authpool/authpool/penalty"
	"github.com/authpool/authpool/penalty/redisstore"
	"github.com/authpool/authpool/penalty/redisstore/redistest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// patient is the Redis timeout of tests that are not about timeouts: the
// race detector under a full test run can hold a call up past the
// daemon's 100 ms, which would send the store to its local penalties and
// the test to check those instead of Redis's.
const patient = 5 * time.Second

// newStore makes a store closed when t ends, which must not take long.
func newStore(t *testing.T, cfg redisstore.Config) *redisstore.Store {
	t.Helper()
	s, err := redisstore.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	redistest.CloseAtCleanup(t, s)
	return s
}

// waitMode waits, at most for limit, until s is in mode m.
func waitMode(t *testing.T, s *redisstore.Store, m redisstore.Mode, limit time.Duration) {
	t.Helper()
	redistest.WaitFor(t, limit, func() bool { return s.Stats().Mode == m },
		func() string { return fmt.Sprintf("the store is not in mode %v: %+v", m, s.Stats()) })
}

func newLogger(b *testutil.SyncBuffer) *slog.Logger { return slog.New(slog.NewTextHandler(b, nil)) }

// helper is the XMPP server's auth script: it knows each user's password.
type helper struct{}

var passwords = map[string]string{"alice": "wonderland-7Qv", "bob": "builder-3Zk"}

func (helper) Do(_ context.Context, req framing.Request) (bool, error) {
	pw, ok := passwords[req.User]
	return ok && pw == req.Password, nil
}

func auth(user, password, client string) framing.Request {
	r := framing.Request{Op: framing.OpAuth, User: user, Server: "example.com", Password: password}
	if client != "" {
		r.Client = netip.MustParseAddr(client)
	}
	return r
}

// secret is the cluster's shared secret in these tests.
var secret = bytes.Repeat([]byte("s3cr3t-of-the-cluster-"), 2)

// daemon is what a daemon of a cluster has: a Guard in front of its
// helpers, penalties in a Store of its own on the shared Redis.
type daemon struct {
	g     *penalty.Guard
	store *redisstore.Store
	log   *testutil.SyncBuffer
}

// cluster makes n daemons with gcfg's penalties, each with a store made
// from scfg.
func cluster(t *testing.T, n int, gcfg penalty.Config, scfg redisstore.Config) []daemon {
	t.Helper()
	ds := make([]daemon, n)
	for i := range ds {
		log := &testutil.SyncBuffer{}
		c := scfg
		c.Logger = newLogger(log)
		store := newStore(t, c)
		g := gcfg
		g.Next, g.Store, g.Secret, g.Logger = helper{}, store, secret, newLogger(log)
		guard, err := penalty.New(g)
		if err != nil {
			t.Fatal(err)
		}
		ds[i] = daemon{g: guard, store: store, log: log}
	}
	return ds
}

// try runs one request through d with a deadline, and reports its answer
// and how long it took.
func (d daemon) try(req framing.Request, deadline time.Duration) (bool, time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	start := time.Now()
	ok, err := d.g.Do(ctx, req)
	return ok, time.Since(start), err
}
