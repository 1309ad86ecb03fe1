package daemon

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/authpool/authpool/internal/testutil"
	"github.com/authpool/authpool/pool"
	"github.com/authpool/authpool/server"
)

// TestTLSListenerReloadsAllowList: serve --listen-tls on 127.0.0.1:0
// answers a client whose certificate is on the list; a SIGHUP that
// changes the list refuses it, and admits the newly listed one.
func TestTLSListenerReloadsAllowList(t *testing.T) {
	pki := testutil.NewPKI(t, "ca")
	cert, key := pki.Server(t, "server")
	files := server.TLSFiles{Cert: cert, Key: key, ClientCA: pki.CA, AllowCN: []string{"app1"}}
	next := files
	next.AllowCN = []string{"app2"}
	r := start(t, Config{
		Pool:      pool.Config{Command: []string{script(t, "sample.py")}, Processes: 1},
		ListenTLS: "127.0.0.1:0",
		TLS:       files,
		Reload: func() (Reloaded, error) {
			return Reloaded{Pool: pool.Config{Command: []string{script(t, "sample.py")}, Processes: 1}, TLS: next}, nil
		},
	})
	m := regexp.MustCompile(`over mutual TLS" addr=(\S+)`).FindStringSubmatch(r.logs.String())
	if m == nil {
		t.Fatalf("no serving line for the TLS listener:\n%s", r.logs.String())
	}
	addr := m[1]
	roots := x509.NewCertPool()
	caPEM, _ := os.ReadFile(pki.CA)
	roots.AppendCertsFromPEM(caPEM)
	ask := func(cn string) (string, error) {
		c, k := pki.Client(t, cn)
		pair, err := tls.LoadX509KeyPair(c, k)
		if err != nil {
			t.Fatal(err)
		}
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", Certificates: []tls.Certificate{pair}})
		if err != nil {
			return "", err
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(30 * time.Second))
		fmt.Fprint(conn, "7 auth:alice:example.com:wonderland\n")
		a, err := bufio.NewReader(conn).ReadString('\n')
		return strings.TrimSuffix(a, "\n"), err
	}
	if a, err := ask("app1"); err != nil || a != "7 1" {
		t.Fatalf("app1 before the reload: %q, %v", a, err)
	}
	if a, err := ask("app2"); err == nil {
		t.Fatalf("app2 before the reload answered %q", a)
	}
	r.sig <- syscall.SIGHUP
	r.within("the reload", func() bool { return strings.Contains(r.logs.String(), "msg=reloaded") })
	if a, err := ask("app1"); err == nil {
		t.Fatalf("app1 after the reload answered %q", a)
	}
	if a, err := ask("app2"); err != nil || a != "7 1" {
		t.Fatalf("app2 after the reload: %q, %v", a, err)
	}
}
