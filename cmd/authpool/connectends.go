package main

import (
	"errors"
	"flag"
	"strings"
	"time"

	"github.com/authpool/authpool/client"
)

// endpointFlags are connect's daemons to ask: --socket and --endpoint,
// and the client certificate for tls:// endpoints.
type endpointFlags struct {
	endpoints     multiFlag
	cert, key, ca string
	socketSet     bool // --socket was given (flag, environment or file), not defaulted
}

func (f *endpointFlags) register(fs *flag.FlagSet) {
	fs.Var(&f.endpoints, "endpoint", "a daemon to ask: unix:PATH or tls://HOST:PORT (repeatable, in order of preference; a request goes on to the next only when this one cannot have acted on it); with it, --socket is used only when given, as the first")
	fs.StringVar(&f.cert, "tls-cert", "", "client certificate (PEM) for tls:// endpoints")
	fs.StringVar(&f.key, "tls-key", "", "its private key (PEM)")
	fs.StringVar(&f.ca, "tls-ca", "", "CA certificates (PEM) the daemons' certificates must chain to")
}

// clientConfig is the client's configuration: socket alone as before, or
// the endpoints, socket first if it was given. With several endpoints a
// dial gets a share of timeout, so that a dead first one leaves time for
// the next.
func (f *endpointFlags) clientConfig(socket string, timeout time.Duration) (client.Config, error) {
	cfg := client.Config{DialTimeout: timeout}
	if len(f.endpoints) == 0 || f.socketSet {
		cfg.Socket = socket
	}
	cfg.Endpoints = f.endpoints
	tlsWanted := false
	for _, e := range f.endpoints {
		tlsWanted = tlsWanted || strings.HasPrefix(e, "tls://")
	}
	switch {
	case tlsWanted:
		t, err := client.LoadTLS(f.cert, f.key, f.ca)
		if err != nil {
			return cfg, err
		}
		cfg.TLS = t
	case f.cert != "" || f.key != "" || f.ca != "":
		return cfg, errors.New("--tls-cert, --tls-key and --tls-ca are for tls:// endpoints, and none is given")
	}
	if n := len(f.endpoints); n > 1 || (n == 1 && cfg.Socket != "") {
		cfg.DialTimeout = max(timeout/time.Duration(n+1), 100*time.Millisecond)
	}
	return cfg, nil
}
