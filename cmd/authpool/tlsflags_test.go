package main

import (
	"io"
	"log/slog"
	"strings"
	"testing"
)

// TestTLSFlagsRefused: --listen-tls without every file it needs, or its
// files without it, is refused with the flag named.
func TestTLSFlagsRefused(t *testing.T) {
	tests := []struct {
		args []string
		want string // in the error; "" for none
	}{
		{[]string{"--listen-tls", "127.0.0.1:0"}, "--tls-cert"},
		{[]string{"--listen-tls", "127.0.0.1:0", "--tls-cert", "c", "--tls-key", "k"}, "--tls-client-ca"},
		{[]string{"--listen-tls", "127.0.0.1:0", "--tls-cert", "c", "--tls-client-ca", "ca"}, "--tls-key"},
		{[]string{"--tls-cert", "c"}, "need --listen-tls"},
		{[]string{"--tls-allow-cn", "x"}, "need --listen-tls"},
		{[]string{"--listen-tls", "127.0.0.1:0", "--tls-cert", "c", "--tls-key", "k", "--tls-client-ca", "ca", "--tls-allow-cn", "a", "--tls-allow-cn", "b"}, ""},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			f, fs, err := parseServeFlags(append(tt.args, "--config", "/dev/null", "--", "/bin/true"), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := f.daemonConfig(fs.Args(), slog.New(slog.DiscardHandler))
			if tt.want == "" {
				if err != nil || len(cfg.TLS.AllowCN) != 2 || cfg.ListenTLS == "" {
					t.Fatalf("%+v, %v", cfg.TLS, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v; want one naming %s", err, tt.want)
			}
		})
	}
}
