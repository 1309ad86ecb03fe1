// Command xmppd is a small XMPP client-to-server (c2s) server on
// mellium.im/xmpp that logs users in through an authpool pool: the way to
// embed authpool in a Go XMPP server.
//
//	go run ./examples/xmppd --listen 127.0.0.1:5222 --domain example.com -- testscripts/sample.py
//	echo hello | go-sendxmpp -n -u alice@example.com -p wonderland -j 127.0.0.1:5222 bob@example.com
//
// What it shows, file by file:
//
//   - main.go: the pool is made from flags, and the server refuses to start
//     unless pool.Probe gets an answer from a helper, so a broken helper
//     command is an error at start, not a refused login later.
//   - negotiate.go: STARTTLS is required, SASL PLAIN is offered only under
//     TLS, and the password is checked by the pool under the connection's
//     context with a deadline; package xmppauth turns the answer into
//     success, not-authorized or temporary-auth-failure. The resource is
//     bound to the authenticated identity, and only hosted domains are
//     served.
//   - route.go: messages go to the other sessions of this server, with the
//     sender's bound address stamped on them.
//   - server.go: on SIGTERM it stops accepting, ends every session with a
//     system-shutdown stream error, then shuts the pool down, which ends
//     every helper.
//
// It is an example, not a product: no rosters, presence, offline messages
// or server-to-server links.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/authpool/authpool/framing"
	"github.com/authpool/authpool/pool"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "xmppd:", err)
		os.Exit(1)
	}
}

type options struct {
	listen           string
	domains          []string
	cert, key        string
	processes        int
	protocol         string
	timeout          time.Duration
	loginTimeout     time.Duration
	negotiateTimeout time.Duration
	maxConns         int
	shutdownTimeout  time.Duration
	logLevel         string
	command          []string
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("xmppd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: xmppd --domain DOMAIN [flags] -- HELPER [ARGS...]")
		fs.PrintDefaults()
	}
	fs.StringVar(&o.listen, "listen", "127.0.0.1:5222", "TCP address for client connections")
	fs.Func("domain", "a domain this server hosts (repeatable or comma-separated); streams to any other are refused", func(s string) error {
		for d := range strings.SplitSeq(s, ",") {
			o.domains = append(o.domains, strings.TrimSpace(d))
		}
		return nil
	})
	fs.StringVar(&o.cert, "cert", "", "PEM certificate chain for STARTTLS (default: a self-signed one made at start)")
	fs.StringVar(&o.key, "key", "", "PEM private key for --cert")
	fs.IntVar(&o.processes, "processes", 2, "number of helper processes")
	fs.StringVar(&o.protocol, "protocol", "generic", "helper protocol: generic (Prosody) or ejabberd (length-prefixed)")
	fs.DurationVar(&o.timeout, "timeout", 3*time.Second, "longest wait for one helper answer; a helper that misses it is replaced")
	fs.DurationVar(&o.loginTimeout, "login-timeout", 5*time.Second, "longest wait for one password check, a free helper included; then the client gets temporary-auth-failure")
	fs.DurationVar(&o.negotiateTimeout, "negotiate-timeout", 30*time.Second, "a client must be logged in and bound within this long of connecting")
	fs.IntVar(&o.maxConns, "max-connections", 256, "most client connections open at once; more are closed at once")
	fs.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 10*time.Second, "on SIGTERM, how long sessions get to end, and then how long helpers get")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.command = fs.Args()
	switch {
	case len(o.command) == 0:
		return o, errors.New("no helper command: give it after --")
	case len(o.domains) == 0:
		return o, errors.New("no --domain: a server must know which domains it hosts")
	case (o.cert == "") != (o.key == ""):
		return o, errors.New("--cert and --key go together")
	case o.processes < 1, o.timeout <= 0, o.loginTimeout <= 0, o.negotiateTimeout <= 0, o.maxConns < 1, o.shutdownTimeout <= 0:
		return o, errors.New("--processes, --max-connections and every timeout must be positive")
	}
	return o, nil
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	domains, err := parseDomains(o.domains)
	if err != nil {
		return err
	}
	var cert tls.Certificate
	if o.cert != "" {
		cert, err = tls.LoadX509KeyPair(o.cert, o.key)
	} else {
		cert, err = selfSigned(o.domains)
		log.Warn("no --cert: using a self-signed certificate; clients must skip verification")
	}
	if err != nil {
		return fmt.Errorf("certificate: %w", err)
	}
	proto, err := framing.ParseProtocol(o.protocol)
	if err != nil {
		return err
	}

	cfg := pool.Config{
		Command:   o.command,
		Protocol:  proto,
		Processes: o.processes,
		Timeout:   o.timeout,
		Logger:    log.With("component", "pool"),
	}
	// pool.New succeeds even when the helper cannot run, and the problem
	// would show only as failed logins: prove the command first, and
	// refuse to start saying why (not found, not executable, exited, ...).
	if err := pool.Probe(ctx, cfg); err != nil {
		return fmt.Errorf("the helper cannot answer, so no one could log in: %w", err)
	}
	p, err := pool.New(cfg)
	if err != nil {
		return err
	}
	// Every return from here ends the helpers: Shutdown waits for them.
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), o.shutdownTimeout)
		defer cancel()
		if err := p.Shutdown(sctx); err != nil {
			log.Warn("helpers killed at the shutdown deadline", "err", err)
		}
	}()
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return err
	}
	srv := newServer(serverConfig{
		Checker:          p,
		Domains:          domains,
		TLS:              &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		LoginTimeout:     o.loginTimeout,
		NegotiateTimeout: o.negotiateTimeout,
		MaxConns:         o.maxConns,
		Logger:           log,
	})
	log.Info("xmppd listening", "addr", ln.Addr().String(), "domains", o.domains, "helper", o.command[0])
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err // the listener failed; the deferred Shutdown ends the helpers
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), o.shutdownTimeout)
	defer cancel()
	srv.Shutdown(sctx)
	<-done
	return nil
}

// parseDomains normalizes the hosted domains as JIDs compare them.
func parseDomains(names []string) ([]jid.JID, error) {
	var out []jid.JID
	for _, name := range names {
		d, err := jid.Parse(name)
		if err != nil || d.Localpart() != "" || d.Resourcepart() != "" {
			return nil, fmt.Errorf("--domain %q is not a domain name", name)
		}
		out = append(out, d)
	}
	return out, nil
}
