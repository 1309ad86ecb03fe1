package server

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/authpool/authpool/internal/testutil"
)

// tlsFixture is a TLS listener on 127.0.0.1:0 and the PKI behind it.
type tlsFixture struct {
	pki        *testutil.PKI
	srvCert    string
	srvKey     string
	tls        *TLS
	addr       string
	fake       *fakePool
	serverPool *x509.CertPool
}

func serveTLS(t *testing.T, cfg Config, allow ...string) *tlsFixture {
	t.Helper()
	pki := testutil.NewPKI(t, "ca")
	cert, key := pki.Server(t, "server")
	tt, err := NewTLS(TLSFiles{Cert: cert, Key: key, ClientCA: pki.CA, AllowCN: allow})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := newFake(0)
	cfg.Pool = f
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.ServeTLS(l, tt) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("ServeTLS = %v", err)
		}
	})
	roots := x509.NewCertPool()
	pemCA, _ := os.ReadFile(pki.CA)
	roots.AppendCertsFromPEM(pemCA)
	return &tlsFixture{pki: pki, srvCert: cert, srvKey: key, tls: tt, addr: l.Addr().String(), fake: f, serverPool: roots}
}

// clientConfig is a client's config with the certificate of pki named cn
// (none when pki is nil).
func (fx *tlsFixture) clientConfig(t *testing.T, pki *testutil.PKI, cn string) *tls.Config {
	t.Helper()
	cfg := &tls.Config{RootCAs: fx.serverPool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS13}
	if pki != nil {
		c, k := pki.Client(t, cn)
		pair, err := tls.LoadX509KeyPair(c, k)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg
}

// ask sends one native request and returns the answer line, or the error
// reading it.
func (fx *tlsFixture) ask(t *testing.T, cfg *tls.Config, line string) (string, *tls.Conn, error) {
	t.Helper()
	c, err := tls.Dial("tcp", fx.addr, cfg)
	if err != nil {
		return "", nil, err
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := fmt.Fprintf(c, "%s\n", line); err != nil {
		return "", c, err
	}
	ans, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSuffix(ans, "\n"), c, err
}

// TestTLSAdmission: only a certificate the client CA signed, whose CN is
// on the allow list, reaches the pool.
func TestTLSAdmission(t *testing.T) {
	fx := serveTLS(t, Config{}, "app1")
	other := testutil.NewPKI(t, "other")
	tests := []struct {
		name string
		pki  *testutil.PKI
		cn   string
		ok   bool
	}{
		{"allowed", fx.pki, "app1", true},
		{"CN not on the list", fx.pki, "app2", false},
		{"another CA", other, "app1", false},
		{"no certificate", nil, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(fx.fake.Seen())
			ans, _, err := fx.ask(t, fx.clientConfig(t, tt.pki, tt.cn), "1 auth:ab:x:ba")
			if tt.ok {
				if err != nil || ans != "1 1" {
					t.Fatalf("answer %q, %v; want 1 1", ans, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("answered %q; want the handshake refused", ans)
			}
			if !strings.Contains(err.Error(), "tls:") {
				t.Errorf("error %v; want a TLS alert", err)
			}
			if n := len(fx.fake.Seen()); n != before {
				t.Errorf("the pool saw %d requests from a refused client", n-before)
			}
		})
	}
}

// TestTLSResumedSessionAfterReload: a session resumed after a reload is
// held to the reloaded allow list and CA, not to the ones it began under.
func TestTLSResumedSessionAfterReload(t *testing.T) {
	tests := []struct {
		name   string
		reload func(fx *tlsFixture) TLSFiles
		// resumes: Go resumes the session (it does not when ClientCAs
		// changed; verifyPeer re-verifies the chain then anyway).
		resumes bool
	}{
		{"CN dropped from the list", func(fx *tlsFixture) TLSFiles {
			return TLSFiles{Cert: fx.srvCert, Key: fx.srvKey, ClientCA: fx.pki.CA, AllowCN: []string{"app2"}}
		}, true},
		{"client CA replaced", func(fx *tlsFixture) TLSFiles {
			return TLSFiles{Cert: fx.srvCert, Key: fx.srvKey, ClientCA: testutil.NewPKI(t, "new").CA}
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := serveTLS(t, Config{}, "app1")
			cfg := fx.clientConfig(t, fx.pki, "app1")
			cfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
			if ans, _, err := fx.ask(t, cfg, "1 auth:ab:x:ba"); err != nil || ans != "1 1" {
				t.Fatalf("before the reload: %q, %v", ans, err)
			}
			// Resumption works while nothing changed.
			ans, c, err := fx.ask(t, cfg, "2 auth:ab:x:ba")
			if err != nil || ans != "2 1" || !c.ConnectionState().DidResume {
				t.Fatalf("second connection: %q, %v, resumed %v; want a resumed session answered", ans, err, c != nil && c.ConnectionState().DidResume)
			}
			if err := fx.tls.Reload(tt.reload(fx)); err != nil {
				t.Fatal(err)
			}
			before := len(fx.fake.Seen())
			ans, c, err = fx.ask(t, cfg, "3 auth:ab:x:ba")
			if tt.resumes && (c == nil || !c.ConnectionState().DidResume) {
				t.Fatalf("the session was not resumed (%v): the test proves nothing", err)
			}
			if err == nil {
				t.Fatalf("a resumed session answered %q after the reload refused its certificate", ans)
			}
			if n := len(fx.fake.Seen()); n != before {
				t.Errorf("the pool saw %d requests", n-before)
			}
		})
	}
}

// TestTLSReloadBadFilesKeepsState: files that do not load leave the
// running state serving.
func TestTLSReloadBadFilesKeepsState(t *testing.T) {
	fx := serveTLS(t, Config{}, "app1")
	for _, files := range []TLSFiles{
		{Cert: fx.srvCert, Key: fx.srvKey},
		{Cert: fx.srvCert, Key: fx.srvCert, ClientCA: fx.pki.CA},
		{Cert: fx.srvCert, Key: fx.srvKey, ClientCA: fx.srvKey},
		{Cert: fx.srvCert, Key: fx.srvKey, ClientCA: fx.pki.CA, AllowCN: []string{""}},
		{Cert: fx.srvCert, Key: worldReadable(t, fx.srvKey), ClientCA: fx.pki.CA},
	} {
		if err := fx.tls.Reload(files); err == nil {
			t.Errorf("Reload(%+v) took", files)
		}
	}
	if ans, _, err := fx.ask(t, fx.clientConfig(t, fx.pki, "app1"), "1 auth:ab:x:ba"); err != nil || ans != "1 1" {
		t.Fatalf("after failed reloads: %q, %v", ans, err)
	}
}

// TestTLSReloadServerCert: a reload serves the new server certificate to
// new connections.
func TestTLSReloadServerCert(t *testing.T) {
	fx := serveTLS(t, Config{})
	cert, key := fx.pki.Server(t, "server2")
	if err := fx.tls.Reload(TLSFiles{Cert: cert, Key: key, ClientCA: fx.pki.CA}); err != nil {
		t.Fatal(err)
	}
	_, c, err := fx.ask(t, fx.clientConfig(t, fx.pki, "x"), "1 auth:ab:x:ba")
	if err != nil {
		t.Fatal(err)
	}
	if cn := c.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "server2" {
		t.Errorf("server certificate %q, want server2", cn)
	}
}

// TestTLSPerIdentityLimit: the per-peer limit counts certificates, not
// addresses: every client here is on 127.0.0.1.
func TestTLSPerIdentityLimit(t *testing.T) {
	fx := serveTLS(t, Config{MaxConnectionsPerPeer: 1})
	a := fx.clientConfig(t, fx.pki, "a")
	if ans, _, err := fx.ask(t, a, "1 auth:ab:x:ba"); err != nil || ans != "1 1" {
		t.Fatalf("first a: %q, %v", ans, err)
	}
	if ans, _, err := fx.ask(t, a, "2 auth:ab:x:ba"); err == nil {
		t.Fatalf("second a answered %q; want it refused (one per certificate)", ans)
	}
	if ans, _, err := fx.ask(t, fx.clientConfig(t, fx.pki, "b"), "3 auth:ab:x:ba"); err != nil || ans != "3 1" {
		t.Fatalf("b from the same address: %q, %v; want it answered", ans, err)
	}
}

// TestTLSStalledHandshakeHoldsNoAcceptLoop: a client that connects and
// sends nothing does not stop the next one being served.
func TestTLSStalledHandshakeHoldsNoAcceptLoop(t *testing.T) {
	fx := serveTLS(t, Config{})
	raw, err := net.Dial("tcp", fx.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if ans, _, err := fx.ask(t, fx.clientConfig(t, fx.pki, "a"), "1 auth:ab:x:ba"); err != nil || ans != "1 1" {
		t.Fatalf("behind a stalled handshake: %q, %v", ans, err)
	}
}

// worldReadable is a copy of path that every user can read.
func worldReadable(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cp := path + ".open"
	if err := os.WriteFile(cp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(cp, 0o644); err != nil {
		t.Fatal(err)
	}
	return cp
}

// TestTLSCloseDoesNotWaitForAStalledPeer: closing a TLS connection whose
// peer reads nothing returns at once. crypto/tls's Close writes a
// close_notify alert and waits up to 5 s for it to leave; Server.Close and
// Shutdown close every connection one after another under the server's
// lock, so each such client would hold shutdown for 5 s.
func TestTLSCloseDoesNotWaitForAStalledPeer(t *testing.T) {
	fx := serveTLS(t, Config{})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cc, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	rawSrv, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	s, _ := New(Config{Pool: newFake(0)})
	pending, idents := newPeerCounter(4), newPeerCounter(4)
	pending.acquire("addr x")
	srv := &tlsConn{Conn: tls.Server(rawSrv, fx.tls.Config()), raw: rawSrv, s: s, pending: pending, idents: idents, addr: "addr x"}

	tc := tls.Client(cc, fx.clientConfig(t, fx.pki, "a"))
	hs := make(chan error, 1)
	go func() { hs <- tc.Handshake() }()
	srv.Conn.SetDeadline(time.Now().Add(20 * time.Second))
	if err := srv.Conn.Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := <-hs; err != nil {
		t.Fatal(err)
	}
	// The client reads nothing: fill the server's send buffer.
	junk := make([]byte, 64<<10)
	for stuck := 0; stuck < 3; {
		rawSrv.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
		if n, _ := rawSrv.Write(junk); n == 0 {
			stuck++
		}
	}
	rawSrv.SetDeadline(time.Time{})
	closed := make(chan struct{})
	go func() {
		srv.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(3 * time.Second):
		cc.Close() // lets the alert's write fail, so the goroutine ends
		<-closed
		t.Fatal("Close waited on a peer that reads nothing")
	}
}

// TestTLSHandshakesPerAddressBounded: connections that have not finished
// their handshake count against their address, so one address that
// connects and stalls cannot take every place; the places come back when
// those connections end.
func TestTLSHandshakesPerAddressBounded(t *testing.T) {
	fx := serveTLS(t, Config{MaxConnectionsPerPeer: 2})
	var stalled []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", fx.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		stalled = append(stalled, c)
	}
	cfg := fx.clientConfig(t, fx.pki, "a")
	if ans, _, err := fx.ask(t, cfg, "1 auth:ab:x:ba"); err == nil {
		t.Fatalf("a third connection from the address answered %q while two stall", ans)
	}
	for _, c := range stalled {
		c.Close()
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		ans, _, err := fx.ask(t, cfg, "2 auth:ab:x:ba")
		if err == nil && ans == "2 1" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the stalled ones closed: %q, %v", ans, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
