package main

import (
	"errors"
	"flag"

	"github.com/authpool/authpool/server"
)

// tlsFlags are serve's mutual-TLS listener flags.
type tlsFlags struct {
	listen    string
	cert, key string
	clientCA  string
	allowCN   multiFlag
}

func (f *tlsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.listen, "listen-tls", "", "also serve the native protocol over mutual TLS on HOST:PORT (any address: only clients with a certificate from --tls-client-ca get in); needs --tls-cert, --tls-key and --tls-client-ca")
	fs.StringVar(&f.cert, "tls-cert", "", "--listen-tls: the server's certificate chain (PEM); re-read on SIGHUP")
	fs.StringVar(&f.key, "tls-key", "", "--listen-tls: the server's private key (PEM, not readable by others); re-read on SIGHUP")
	fs.StringVar(&f.clientCA, "tls-client-ca", "", "--listen-tls: CA certificates (PEM) whose client certificates are admitted; re-read on SIGHUP")
	fs.Var(&f.allowCN, "tls-allow-cn", "--listen-tls: admit only client certificates with this common name (repeatable; none: any the CA signed); also checked on resumed sessions; re-read on SIGHUP")
}

// files checks the flags and returns what the listener serves with.
func (f *tlsFlags) files() (server.TLSFiles, error) {
	files := server.TLSFiles{Cert: f.cert, Key: f.key, ClientCA: f.clientCA, AllowCN: f.allowCN}
	if f.listen == "" {
		if f.cert != "" || f.key != "" || f.clientCA != "" || len(f.allowCN) > 0 {
			return files, errors.New("--tls-cert, --tls-key, --tls-client-ca and --tls-allow-cn need --listen-tls")
		}
		return files, nil
	}
	return files, files.Check()
}
