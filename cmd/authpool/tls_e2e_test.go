package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/authpool/authpool/internal/testutil"
)

// TestConnectTLSFailover: serve --listen-tls, and connect with a dead
// first endpoint and the TLS one second: every request is answered; a
// client certificate outside --tls-allow-cn gets no and a log line that
// says why.
func TestConnectTLSFailover(t *testing.T) {
	pki := testutil.NewPKI(t, "ca")
	cert, key := pki.Server(t, "server")
	socket := filepath.Join(t.TempDir(), "authpool.sock")
	d := startDaemonOn(t, socket, "--listen-tls", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key,
		"--tls-client-ca", pki.CA, "--tls-allow-cn", "xmpp1", "--", scripts(t, "sample.py"))
	m := regexp.MustCompile(`over mutual TLS" addr=(\S+)`).FindStringSubmatch(d.logs.String())
	if m == nil {
		t.Fatalf("no TLS serving line:\n%s", d.logs.String())
	}
	dead := "unix:" + filepath.Join(t.TempDir(), "dead.sock")
	for _, tt := range []struct {
		cn, answers string
		logged      string
	}{
		{"xmpp1", "1\n0\n1\n", ""},
		{"intruder", "0\n0\n0\n", "refused this client's certificate"},
	} {
		t.Run(tt.cn, func(t *testing.T) {
			ccert, ckey := pki.Client(t, tt.cn)
			b := startBridge(t, "--config", "/dev/null", "--endpoint", dead, "--endpoint", "tls://"+m[1],
				"--tls-cert", ccert, "--tls-key", ckey, "--tls-ca", pki.CA, "--timeout", "2s")
			b.in.Write([]byte("auth:alice:example.com:wonderland\nauth:alice:example.com:" + secretMark + "\nisuser:bob:example.com\n"))
			if got := b.read(len(tt.answers)); got != tt.answers {
				t.Fatalf("answers %q, want %q", got, tt.answers)
			}
			if !strings.Contains(b.errs.String(), tt.logged) {
				t.Errorf("connect's log lacks %q:\n%s", tt.logged, b.errs.String())
			}
		})
	}
}
