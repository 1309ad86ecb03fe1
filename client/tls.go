package client

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// LoadTLS returns the configuration for tls:// endpoints: the client's
// certificate and key (PEM files), and the CA bundle (PEM) that the
// daemons' certificates must chain to. All three are required: the
// daemon admits only clients with a certificate, and a client that
// trusted the system's CAs would send passwords to anyone with any
// public certificate for the name.
func LoadTLS(certFile, keyFile, caFile string) (*tls.Config, error) {
	if certFile == "" || keyFile == "" || caFile == "" {
		return nil, errors.New("client: a TLS endpoint needs a client certificate, its key and the daemons' CA (--tls-cert, --tls-key, --tls-ca)")
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("client certificate: %w", err)
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("daemons' CA: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("daemons' CA %s: no PEM certificate in it", caFile)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: roots, MinVersion: tls.VersionTLS13}, nil
}
