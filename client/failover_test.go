package client

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authpool/authpool/internal/testutil"
	"github.com/authpool/authpool/server"
)

// tlsDaemon is a server with a mutual-TLS listener on 127.0.0.1:0.
type tlsDaemon struct {
	addr string
	f    *fakePool
}

func startTLSDaemon(t *testing.T, pki *testutil.PKI, allow ...string) *tlsDaemon {
	t.Helper()
	cert, key := pki.Server(t, "server")
	tt, err := server.NewTLS(server.TLSFiles{Cert: cert, Key: key, ClientCA: pki.CA, AllowCN: allow})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &tlsDaemon{addr: l.Addr().String(), f: newFake()}
	srv, _ := server.New(server.Config{Pool: d.f})
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(l, tt) }()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return d
}

func clientTLS(t *testing.T, pki *testutil.PKI, cn string) Config {
	t.Helper()
	cert, key := pki.Client(t, cn)
	cfg, err := LoadTLS(cert, key, pki.CA)
	if err != nil {
		t.Fatal(err)
	}
	return Config{TLS: cfg, Timeout: 10 * time.Second}
}

func newClientCfg(t *testing.T, cfg Config) *Client {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestFailoverFirstDead: with the first endpoint dead, every request is
// answered once, by the second.
func TestFailoverFirstDead(t *testing.T) {
	pki := testutil.NewPKI(t, "ca")
	live := startTLSDaemon(t, pki)
	cfg := clientTLS(t, pki, "app")
	cfg.Endpoints = []string{"unix:" + filepath.Join(t.TempDir(), "dead.sock"), "tls://" + live.addr}
	c := newClientCfg(t, cfg)
	const n = 200
	authMany(t, c, n, func(i int) string { return fmt.Sprint("u", i) })
	seen := map[string]int{}
	for _, r := range live.f.Seen() {
		seen[r.User]++
	}
	if len(seen) != n {
		t.Errorf("the live daemon saw %d users, want %d", len(seen), n)
	}
	for u, k := range seen {
		if k != 1 {
			t.Errorf("%s asked %d times", u, k)
		}
	}
}

// TestFailoverOnlyWhenNothingWasAsked: an answer is final, whatever it
// is, except the temporary failures that ask no helper; each request is
// counted at each daemon.
func TestFailoverOnlyWhenNothingWasAsked(t *testing.T) {
	tests := []struct {
		user, pw string
		want     bool
		wantErr  error
		first    int // requests the first daemon saw
		second   int
	}{
		{"alice", "pw-alice", true, nil, 1, 0},
		{"alice", "wrong", false, nil, 1, 0}, // a refused login is not retried
		{"timeout", "x", false, ErrTimeout, 1, 0},
		{"exited", "x", false, ErrExited, 1, 0},
		{"protocol", "x", false, ErrProtocol, 1, 0},
		{"unavailable", "x", false, ErrUnavailable, 1, 1},
		{"untrusted", "x", false, ErrUntrusted, 1, 1},
		{"overloaded", "x", false, ErrOverloaded, 1, 1},
		{"closed", "x", false, ErrDaemonClosing, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.user+"/"+tt.pw, func(t *testing.T) {
			d1 := startDaemon(t, filepath.Join(t.TempDir(), "1.sock"))
			d2 := startDaemon(t, filepath.Join(t.TempDir(), "2.sock"))
			c := newClientCfg(t, Config{Endpoints: []string{"unix:" + d1.path, "unix:" + d2.path}, Timeout: 10 * time.Second})
			got, err := c.Auth(context.Background(), tt.user, "example.com", tt.pw)
			if got != tt.want || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Errorf("got %v, %v; want %v, %v", got, err, tt.want, tt.wantErr)
			}
			if n1, n2 := len(d1.f.Seen()), len(d2.f.Seen()); n1 != tt.first || n2 != tt.second {
				t.Errorf("daemons saw %d and %d requests, want %d and %d", n1, n2, tt.first, tt.second)
			}
		})
	}
}

// TestNotResentAfterWritten: a daemon that reads a request and drops the
// connection may have acted on it: an auth is not sent again, here or to
// the next endpoint; an isuser is.
func TestNotResentAfterWritten(t *testing.T) {
	tests := []struct {
		isuser  bool
		wantErr error
		dropped int // requests the dropping daemon read
		second  int
	}{
		{false, ErrAnswerLost, 1, 0},
		{true, nil, 2, 1},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint("isuser=", tt.isuser), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "drop.sock")
			l, err := net.Listen("unix", path)
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			read := 0
			var wg sync.WaitGroup
			wg.Go(func() {
				for {
					nc, err := l.Accept()
					if err != nil {
						return
					}
					nc.SetDeadline(time.Now().Add(10 * time.Second))
					if _, err := bufio.NewReader(nc).ReadString('\n'); err == nil {
						mu.Lock()
						read++
						mu.Unlock()
					}
					nc.Close()
				}
			})
			t.Cleanup(func() { l.Close(); wg.Wait() })
			d2 := startDaemon(t, filepath.Join(t.TempDir(), "2.sock"))
			c := newClientCfg(t, Config{Endpoints: []string{"unix:" + path, "unix:" + d2.path}, Timeout: 10 * time.Second})
			var err2 error
			if tt.isuser {
				_, err2 = c.IsUser(context.Background(), "bob", "example.com")
			} else {
				_, err2 = c.Auth(context.Background(), "bob", "example.com", "pw-bob")
			}
			if !errors.Is(err2, tt.wantErr) || (tt.wantErr == nil) != (err2 == nil) {
				t.Errorf("error %v, want %v", err2, tt.wantErr)
			}
			if errors.Is(err2, ErrConnection) {
				t.Errorf("%v is ErrConnection, which callers retry", err2)
			}
			mu.Lock()
			defer mu.Unlock()
			if read != tt.dropped || len(d2.f.Seen()) != tt.second {
				t.Errorf("the dropping daemon read %d, the second saw %d; want %d and %d", read, len(d2.f.Seen()), tt.dropped, tt.second)
			}
		})
	}
}

// TestCertificateOutsideAllowList: a certificate the daemon refuses is
// a clear error, no request reaches that daemon, and the next endpoint
// answers.
func TestCertificateOutsideAllowList(t *testing.T) {
	pki := testutil.NewPKI(t, "ca")
	d := startTLSDaemon(t, pki, "app1")
	cfg := clientTLS(t, pki, "intruder")
	cfg.Endpoints = []string{"tls://" + d.addr}
	c := newClientCfg(t, cfg)
	_, err := c.Auth(context.Background(), "alice", "example.com", "pw-alice")
	if !errors.Is(err, ErrCertRefused) || !errors.Is(err, ErrConnection) {
		t.Fatalf("error %v; want ErrCertRefused", err)
	}
	if !strings.Contains(err.Error(), "tls://"+d.addr) || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("error %q does not name the endpoint and the certificate", err)
	}
	t.Log(err)

	other := startDaemon(t, filepath.Join(t.TempDir(), "o.sock"))
	cfg.Endpoints = append(cfg.Endpoints, "unix:"+other.path)
	c2 := newClientCfg(t, cfg)
	if ok, err := c2.Auth(context.Background(), "alice", "example.com", "pw-alice"); !ok || err != nil {
		t.Fatalf("with a second endpoint: %v, %v", ok, err)
	}
	if n := len(d.f.Seen()); n != 0 {
		t.Errorf("the refusing daemon saw %d requests", n)
	}
}

// TestBadEndpoints: endpoints that do not parse, or a tls:// one without
// a certificate, are refused by New.
func TestBadEndpoints(t *testing.T) {
	for _, ep := range []string{"", "unix:", "/run/a.sock", "tcp://127.0.0.1:1", "tls://127.0.0.1", "tls://:99", "tls://127.0.0.1:99"} {
		if _, err := New(Config{Endpoints: []string{ep}}); !errors.Is(err, ErrBadEndpoint) {
			t.Errorf("%q: %v, want ErrBadEndpoint", ep, err)
		}
	}
	if _, err := New(Config{}); err == nil {
		t.Error("no endpoint accepted")
	}
}
