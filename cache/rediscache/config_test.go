package rediscache_test

import (
	"crypto/tls"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authpool/authpool/cache"
	"github.com/authpool/authpool/cache/cachetest"
	"github.com/authpool/authpool/cache/rediscache"
)

// A bad configuration is refused, with an error that never shows the
// URL's password.
func TestConfigRefused(t *testing.T) {
	sock := "unix://" + filepath.Join(t.TempDir(), "nobody.sock")
	for _, tt := range []struct {
		name string
		cfg  rediscache.Config
		says string
	}{
		{"no URL", rediscache.Config{}, "no Redis URL"},
		{"scheme", rediscache.Config{URL: "http://:hunter2@host/"}, `scheme "http"`},
		{"skip_verify", rediscache.Config{URL: "rediss://:hunter2@host/?skip_verify=true"}, `"skip_verify" not taken`},
		{"bad db", rediscache.Config{URL: "redis://:hunter2@host/x"}, "invalid database"},
		{"TLS without rediss", rediscache.Config{URL: sock, TLS: &tls.Config{}}, "not rediss"},
		{"negative timeout", rediscache.Config{URL: sock, Timeout: -1}, "negative"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := rediscache.New(tt.cfg)
			if err == nil {
				s.Close()
				t.Fatal("accepted")
			}
			if !errors.Is(err, rediscache.ErrConfig) || !strings.Contains(err.Error(), tt.says) {
				t.Errorf("error %q, want ErrConfig saying %q", err, tt.says)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error shows the password: %q", err)
			}
		})
	}
}

// A shared store needs the cluster's secret: with keys of its own, a
// daemon would never see the others' changes.
func TestCacheRefusesSharedStoreWithoutSecret(t *testing.T) {
	s := newStore(t, rediscache.Config{URL: "unix://" + filepath.Join(t.TempDir(), "nobody.sock"), ProbeMax: time.Second})
	for _, cfg := range []cache.Config{
		{Next: cachetest.NewHelper(), TTL: time.Minute, Store: s},
		{Next: cachetest.NewHelper(), TTL: time.Minute, Store: s, Secret: []byte("short")},
	} {
		if _, err := cache.New(cfg); !errors.Is(err, cache.ErrConfig) {
			t.Errorf("cache.New with secret %q: %v, want ErrConfig", cfg.Secret, err)
		}
	}
}

// With Redis away from the start, every lookup asks the helper and every
// answer is right.
func TestStartsWithoutRedis(t *testing.T) {
	s := newStore(t, rediscache.Config{URL: "unix://" + filepath.Join(t.TempDir(), "nobody.sock"), ProbeMax: time.Second})
	if st := s.Stats(); st.Mode != rediscache.ModeLocal || st.ProbeErrors == 0 {
		t.Fatalf("a store without Redis: %+v, want local after a failed probe", st)
	}
	h := cachetest.NewHelper()
	c := cachetest.NewCache(t, h, s, time.Hour, time.Hour)
	for range 2 {
		if n := answers(t, h, daemon{c: c}, cachetest.Passwords["alice"], 10*time.Second, "no Redis"); n != 2 {
			t.Errorf("%d of 2 answers asked the helper", n)
		}
	}
}
