package server

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync/atomic"

	"github.com/authpool/authpool/internal/secretfile"
)

// ErrCertNotAllowed is a client certificate that chains to the client CA
// but whose common name is not on the allow list, or that no longer
// chains to the CA (a resumed session after the CA changed).
var ErrCertNotAllowed = errors.New("client certificate not allowed")

// TLSFiles names what a mutual-TLS listener serves with. Cert, Key and
// ClientCA are required: there is no TLS listener without client
// certificates.
type TLSFiles struct {
	// Cert and Key are the server's certificate chain and private key
	// (PEM).
	Cert, Key string
	// ClientCA is the PEM bundle of the CAs whose client certificates are
	// accepted.
	ClientCA string
	// AllowCN, when set, admits only client certificates whose subject
	// common name is listed. Empty means any certificate ClientCA signed.
	AllowCN []string
}

// tlsState is one loaded TLSFiles; it is replaced whole, never changed.
type tlsState struct {
	cfg     *tls.Config // the per-handshake config GetConfigForClient returns
	roots   *x509.CertPool
	allowCN []string
}

// TLS is a mutual-TLS server configuration that can be reloaded while
// connections use it: every handshake, resumed ones included, reads the
// state current at that moment. It is safe for concurrent use.
type TLS struct {
	state atomic.Pointer[tlsState]
	base  *tls.Config
}

// NewTLS loads files.
func NewTLS(files TLSFiles) (*TLS, error) {
	t := &TLS{}
	t.base = &tls.Config{
		MinVersion: tls.VersionTLS13,
		// The per-handshake config: the certificates, CA and allow list
		// of the moment.
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return t.state.Load().cfg, nil
		},
	}
	if err := t.Reload(files); err != nil {
		return nil, err
	}
	return t, nil
}

// Reload loads files and, if they load, makes them the state every
// handshake from now on uses; on error the running state stays.
// Connections already open keep going.
func (t *TLS) Reload(files TLSFiles) error {
	st, err := loadTLS(files)
	if err != nil {
		return err
	}
	st.cfg.VerifyConnection = func(cs tls.ConnectionState) error { return verifyPeer(t.state.Load(), cs) }
	t.state.Store(st)
	return nil
}

// Config returns the tls.Config to serve with.
func (t *TLS) Config() *tls.Config { return t.base }

// Check reports a file missing from files, or an empty name on the
// allow list, without reading anything.
func (files TLSFiles) Check() error {
	switch {
	case files.Cert == "":
		return errors.New("--listen-tls needs --tls-cert")
	case files.Key == "":
		return errors.New("--listen-tls needs --tls-key")
	case files.ClientCA == "":
		return errors.New("--listen-tls needs --tls-client-ca: only mutual TLS is served")
	}
	for _, cn := range files.AllowCN {
		if cn == "" {
			return errors.New("--tls-allow-cn: an empty name")
		}
	}
	return nil
}

func loadTLS(files TLSFiles) (*tlsState, error) {
	if err := files.Check(); err != nil {
		return nil, err
	}
	certPEM, err := os.ReadFile(files.Cert)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert: %w", err)
	}
	keyPEM, err := secretfile.Read(files.Key, 1<<20)
	if err != nil {
		return nil, fmt.Errorf("--tls-key: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
	}
	pem, err := os.ReadFile(files.ClientCA)
	if err != nil {
		return nil, fmt.Errorf("--tls-client-ca: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--tls-client-ca %s: no PEM certificate in it", files.ClientCA)
	}
	return &tlsState{
		cfg: &tls.Config{
			MinVersion:   tls.VersionTLS13,
			Certificates: []tls.Certificate{cert},
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    roots,
		},
		roots:   roots,
		allowCN: slices.Clone(files.AllowCN),
	}, nil
}

// verifyPeer admits a handshake's client certificate under cur, the state
// now (not necessarily the one the handshake began with). It runs on
// resumed sessions too, where Go checks neither the CA nor any list
// again: a session resumed after a reload is held to the reloaded CA and
// allow list.
func verifyPeer(cur *tlsState, cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return fmt.Errorf("%w: none given", ErrCertNotAllowed)
	}
	leaf := cs.PeerCertificates[0]
	if cs.DidResume {
		inter := x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: cur.roots, Intermediates: inter,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			return fmt.Errorf("%w: %w", ErrCertNotAllowed, err)
		}
	}
	if len(cur.allowCN) > 0 && !slices.Contains(cur.allowCN, leaf.Subject.CommonName) {
		return fmt.Errorf("%w: CN %q is not on --tls-allow-cn", ErrCertNotAllowed, leaf.Subject.CommonName)
	}
	return nil
}

// certIdentity is who a verified client certificate names, for the
// per-peer connection limit.
func certIdentity(cs tls.ConnectionState) string {
	if len(cs.PeerCertificates) == 0 {
		return ""
	}
	return "cn " + cs.PeerCertificates[0].Subject.CommonName
}
