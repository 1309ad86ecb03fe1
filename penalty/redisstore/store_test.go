package redisstore_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authpool/authpool/penalty"
	"github.com/authpool/authpool/penalty/redisstore"
	"github.com/authpool/authpool/penalty/redisstore/redistest"
	"github.com/authpool/authpool/penalty/storetest"
)

var (
	k1 = storetest.KeyN(1)
	m1 = storetest.MarkN(1)
)

// By Redis's own clock: the age grows as real time passes, and Redis
// expires a key a window after its last failure.
func TestRedisClockWindow(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	const window = 2 * time.Second
	s := newStore(t, redisstore.Config{URL: srv.URL(), Window: window, Timeout: patient})
	ctx := context.Background()
	if raised, _ := s.Fail(ctx, k1, m1); !raised {
		t.Fatal("the first failure did not raise")
	}
	name := redisstore.DefaultPrefix + k1.String()
	if ttl, err := srv.Do("PTTL", name).AsInt64(); err != nil || ttl <= 0 || ttl > window.Milliseconds() {
		t.Errorf("PTTL %d, %v; want the window at most", ttl, err)
	}
	time.Sleep(50 * time.Millisecond)
	st, _ := s.Get(ctx, k1)
	if st.Failures != 1 || st.Since < 50*time.Millisecond {
		t.Errorf("50ms after the failure: %+v", st)
	}
	deadline := time.Now().Add(window + 10*time.Second)
	for {
		if st, _ := s.Get(ctx, k1); st == (penalty.State{}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the key outlived its window")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n, err := srv.Do("EXISTS", name).AsInt64(); err != nil || n != 0 {
		t.Errorf("the key is still in Redis: %d, %v", n, err)
	}
	if st := s.Stats(); st.Errors != 0 || st.Mode != redisstore.ModeRedis {
		t.Errorf("stats %+v", st)
	}
}

// A store started while Redis is away runs on its local penalties and
// goes to Redis by itself once Redis answers.
func TestStartsWithoutRedis(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	srv.Kill()
	s := newStore(t, redisstore.Config{URL: srv.URL(), Timeout: patient, ProbeMin: 10 * time.Millisecond, ProbeMax: 50 * time.Millisecond})
	if st := s.Stats(); st.Mode != redisstore.ModeLocal || st.ProbeErrors == 0 {
		t.Fatalf("started without Redis: %+v", st)
	}
	ctx := context.Background()
	s.Fail(ctx, k1, m1)
	if st, _ := s.Get(ctx, k1); st.Failures != 1 {
		t.Errorf("local penalties: %+v", st)
	}
	srv.Restart()
	waitMode(t, s, redisstore.ModeRedis, 10*time.Second)
	if st, _ := s.Get(ctx, k1); st.Failures != 0 {
		t.Errorf("Redis answers %+v; the failure was this daemon's alone", st)
	}
	s.Fail(ctx, k1, m1)
	if n, err := srv.Do("HGET", redisstore.DefaultPrefix+k1.String(), "f").AsInt64(); err != nil || n != 1 {
		t.Errorf("Redis holds %d, %v; want the failure recorded there", n, err)
	}
	if st := s.Stats(); st.Recoveries != 1 || st.Fallbacks != 0 || st.Errors != 0 {
		t.Errorf("stats %+v", st)
	}
}

// Every call is bounded by Timeout, whatever the caller's context allows,
// and Close does not wait for a paused Redis.
func TestPausedRedisBounded(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	s, err := redisstore.New(redisstore.Config{URL: srv.URL(), Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv.Pause(3 * time.Second)
	start := time.Now()
	raised, err := s.Fail(context.Background(), k1, m1)
	if !raised || err != nil {
		t.Errorf("Fail while paused: %v, %v; want the local store's answer", raised, err)
	}
	if took := time.Since(start); took < 50*time.Millisecond {
		t.Errorf("Fail took %v: it did not try Redis", took)
	}
	// Once fallen back, calls do not wait for Redis at all.
	if st, err := s.Get(context.Background(), k1); st.Failures != 1 || err != nil {
		t.Errorf("Get after the fallback: %+v, %v", st, err)
	}
	start = time.Now()
	s.Close()
	// The client says goodbye with a PING, and gives up on it after a
	// second.
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Close took %v with Redis paused", took)
	}
	if st := s.Stats(); st.Mode != redisstore.ModeClosed || st.Fallbacks != 1 || st.Errors != 1 {
		t.Errorf("stats %+v", st)
	}
	s.Close() // again: nothing
}

// A Redis that answers reads but holds writes (CLIENT PAUSE WRITE, as
// during a failover) is not back: the probe writes, so the store stays on
// its local penalties instead of going back and falling again at every
// failure.
func TestWritePausedStaysLocal(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	s := newStore(t, redisstore.Config{URL: srv.URL(), Timeout: 50 * time.Millisecond,
		ProbeMin: 10 * time.Millisecond, ProbeMax: 20 * time.Millisecond})
	srv.Do("CLIENT", "PAUSE", "3000", "WRITE")
	ctx := context.Background()
	for i := range 20 {
		s.Fail(ctx, k1, storetest.MarkN(i))
		time.Sleep(25 * time.Millisecond)
	}
	if st := s.Stats(); st.Fallbacks != 1 || st.Mode != redisstore.ModeLocal || st.ProbeErrors == 0 {
		t.Errorf("20 failures over 0.5s of a write pause: %+v; want one fallback, the probe failing", st)
	}
	if st, _ := s.Get(ctx, k1); st.Failures != 20 {
		t.Errorf("local penalties: %+v", st)
	}
}

// A caller whose context ends is not Redis trouble: no fallback.
func TestCallerCancelIsNoTrouble(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	s := newStore(t, redisstore.Config{URL: srv.URL(), Timeout: patient})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s.Get(ctx, k1)
	s.Fail(ctx, k1, m1)
	if st := s.Stats(); st.Mode != redisstore.ModeRedis || st.Errors != 0 {
		t.Errorf("after calls with an ended context: %+v, want Redis still in use", st)
	}
}

// A key Redis holds in another shape (another client wrote it) is an
// error reply: the call is answered locally and the store falls back,
// then goes back to Redis; nothing fails.
func TestWrongTypeFallsBack(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	s := newStore(t, redisstore.Config{URL: srv.URL(), Timeout: patient, ProbeMin: 10 * time.Millisecond})
	srv.Do("SET", redisstore.DefaultPrefix+k1.String(), "not a hash")
	ctx := context.Background()
	if raised, err := s.Fail(ctx, k1, m1); !raised || err != nil {
		t.Errorf("Fail on a key of another type: %v, %v", raised, err)
	}
	if st := s.Stats(); st.Errors != 1 || st.Fallbacks != 1 {
		t.Errorf("stats %+v", st)
	}
	waitMode(t, s, redisstore.ModeRedis, 10*time.Second)
	if st, err := s.Get(ctx, storetest.KeyN(2)); err != nil || st != (penalty.State{}) {
		t.Errorf("another key after the recovery: %+v, %v", st, err)
	}
}

// The store works as a Redis user that may run its scripts on its own
// keys and nothing else: the ACL the package doc gives, with the user's
// password in the URL.
func TestLeastPrivilegeUser(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{TCP: true})
	acl := append([]string{"ACL", "SETUSER", "authpool", "reset", "on", ">pw-of-authpool", "~authpool:penalty:*"},
		strings.Fields(redisstore.ACLCommands)...)
	if err := srv.Do(acl...).Error(); err != nil {
		t.Fatalf("%v: %v", acl, err)
	}
	url := strings.Replace(srv.URL(), "redis://", "redis://authpool:pw-of-authpool@", 1)
	storetest.Run(t, func(t *testing.T, o storetest.Options) penalty.Store {
		s := newStore(t, redisstore.Config{URL: url, Window: o.Window, Now: o.Now, Timeout: patient})
		t.Cleanup(func() {
			if st := s.Stats(); st.Mode != redisstore.ModeRedis || st.Errors != 0 || st.ProbeErrors != 0 {
				t.Errorf("as the least-privileged user: %+v", st)
			}
			srv.Do("FLUSHALL")
		})
		return s
	})
}

// A bad configuration is refused, with an error that never shows the
// URL's password.
func TestConfigRefused(t *testing.T) {
	sock := "unix://" + filepath.Join(t.TempDir(), "r.sock")
	tests := []struct {
		name string
		cfg  redisstore.Config
		says string
	}{
		{"no URL", redisstore.Config{}, "no Redis URL"},
		{"scheme", redisstore.Config{URL: "http://:hunter2@host/"}, `scheme "http"`},
		{"not a URL", redisstore.Config{URL: "redis://:hunter2@host:port:x/%zz"}, "does not parse"},
		{"skip_verify", redisstore.Config{URL: "rediss://:hunter2@host/?skip_verify=true"}, `"skip_verify" not taken`},
		{"sentinel", redisstore.Config{URL: "redis://:hunter2@host/?master_set=m"}, `"master_set" not taken`},
		{"several servers", redisstore.Config{URL: "redis://:hunter2@host/?addr=other:6379"}, `"addr" not taken`},
		{"bad db", redisstore.Config{URL: "redis://:hunter2@host/x"}, "invalid database"},
		{"relative socket", redisstore.Config{URL: "unix://:hunter2@r.sock"}, "absolute"},
		{"no socket", redisstore.Config{URL: "unix://"}, "no socket path"},
		{"TLS without rediss", redisstore.Config{URL: sock, TLS: &tls.Config{}}, "not rediss"},
		{"negative timeout", redisstore.Config{URL: sock, Timeout: -1}, "negative"},
		{"tiny window", redisstore.Config{URL: sock, Window: time.Microsecond}, "under a millisecond"},
		{"probe bounds", redisstore.Config{URL: sock, ProbeMin: time.Second, ProbeMax: time.Millisecond}, "below ProbeMin"},
		{"negative keys", redisstore.Config{URL: sock, MaxKeys: -1}, "MaxKeys"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := redisstore.New(tt.cfg)
			if err == nil {
				s.Close()
				t.Fatal("accepted")
			}
			if !errors.Is(err, redisstore.ErrConfig) || !strings.Contains(err.Error(), tt.says) {
				t.Errorf("error %q, want ErrConfig saying %q", err, tt.says)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
}

// Check refuses what New refuses, without connecting; Redacted and
// HasPassword never let the password through.
func TestCheckRedacted(t *testing.T) {
	for _, tt := range []struct {
		url      string
		ok, pass bool
		shown    string
	}{
		{"redis://authpool:hunter2@127.0.0.1:6379/0", true, true, "redis://authpool:xxxxx@127.0.0.1:6379/0"},
		{"rediss://:hunter2@redis.example/", true, true, "rediss://:xxxxx@redis.example/"},
		{"unix:///run/redis/redis.sock", true, false, "unix:///run/redis/redis.sock"},
		{"redis://host:6379", true, false, "redis://host:6379"},
		{"redis://:hunter2@host:port:x/%zz", false, true, "(a Redis URL that does not parse)"},
		{"http://:hunter2@host/", false, true, "http://:xxxxx@host/"},
	} {
		err := redisstore.Config{URL: tt.url}.Check()
		if (err == nil) != tt.ok {
			t.Errorf("Check(%s): %v", redisstore.Redacted(tt.url), err)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Check's error shows the password: %v", err)
		}
		if got := redisstore.Redacted(tt.url); got != tt.shown {
			t.Errorf("Redacted = %q, want %q", got, tt.shown)
		}
		if got := redisstore.HasPassword(tt.url); got != tt.pass {
			t.Errorf("HasPassword(%s) = %v", tt.shown, got)
		}
	}
}

// The scan of the tests that say Redis holds nothing secret finds a
// password planted there, as text and as an unkeyed hash, whole or cut.
func TestHoldsFindsPlanted(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	sum := sha256.Sum256([]byte("alice:example.com:planted-pw"))
	srv.Do("SET", "a", strings.Repeat("x", 1000)+"Planted-PW")
	srv.Do("HSET", "b", "m", hex.EncodeToString(sum[:8]))
	found := srv.Holds([]string{"planted-pw", "absent"}, []string{"alice:example.com:planted-pw", "absent"})
	if want := []string{`"planted-pw"`, `sha256("alice:example.com:planted-pw")[:8]`}; strings.Join(found, ",") != strings.Join(want, ",") {
		t.Errorf("found %q, want %q", found, want)
	}
}
