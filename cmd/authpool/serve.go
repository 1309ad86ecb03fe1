package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/authpool/authpool/cache"
	"github.com/authpool/authpool/internal/loglimit"
	"github.com/authpool/authpool/metrics"
	"github.com/authpool/authpool/pool"
	"github.com/authpool/authpool/server"
)

// parseServeFlags parses authpool serve's command line and, with --config,
// its file. It is done again, from scratch, on every reload.
func parseServeFlags(args []string, stderr io.Writer) (*serveFlags, *flag.FlagSet, error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := &serveFlags{}
	f.register(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: authpool serve [flags] [-- COMMAND ARGS...]\n\nRun auth helpers and serve them on a Unix socket.\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, nil, err
	}
	if f.config != "" {
		if err := loadConfigFile(f.config, fs, &f.commandArgs); err != nil {
			return nil, nil, configError{err}
		}
	}
	return f, fs, nil
}

// configError is a config file that does not load.
type configError struct{ error }

func serve(ctx context.Context, args []string, stderr io.Writer) int {
	started := time.Now()
	f, fs, err := parseServeFlags(args, stderr)
	var cfgErr configError
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &cfgErr):
		fmt.Fprintf(stderr, "authpool serve: %v\n", err)
		return 1
	case err != nil:
		return 2 // flag printed it, with the usage
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "authpool serve: %v\n", err)
		return 1
	}
	log, level, err := newLogger(f.logLevel, f.logFormat, stderr)
	if err != nil {
		return fail(err)
	}
	defer reapEscapedDescendants(log)()
	cfg, err := f.poolConfig(fs.Args(), log)
	if err != nil {
		return fail(err)
	}
	perListener, perPeer, err := f.connLimits()
	if err != nil {
		return fail(err)
	}
	if f.httpCreds.set {
		log.Warn("--http-credentials on the command line: every local user can read it with ps; use --http-credentials-file")
	}
	// Lines that clients cause (refusals, malformed requests, failures)
	// go through a limiter: a flood of requests is not a flood of lines.
	limited := loglimit.New(log.Handler(), loglimit.Config{})
	defer limited.Close()
	clientLog := slog.New(limited)
	m := metrics.New()
	cfg.Observer = m

	// Listeners first: ListenUnix sets the umask for an instant, and no
	// helper may be forked meanwhile. A live daemon on a path stops us here,
	// before any helper starts.
	ls, err := f.listen(log)
	if err != nil {
		return fail(err)
	}
	creds, err := f.httpCredentials(ls.http != nil)
	if err != nil {
		ls.close()
		return fail(err)
	}
	// A helper that cannot start would answer no to everyone, forever:
	// refuse to start instead, saying why. SIGTERM cuts the probe short.
	pctx, pstop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	err = pool.Probe(pctx, cfg)
	pstop()
	if err != nil {
		ls.close()
		return fail(err)
	}
	adm, err := newAdmission(f, ls, cfg.Processes, perListener, perPeer, log, clientLog)
	if err != nil {
		ls.close()
		return fail(err)
	}
	p, err := pool.New(cfg)
	if err != nil {
		ls.close()
		return fail(err)
	}
	m.Watch(p.Stats)
	var submitter server.Doer = p
	var answers *cache.Cache
	if f.cacheTTL > 0 || f.negCacheTTL > 0 {
		answers, err = cache.New(cache.Config{Next: p, TTL: f.cacheTTL, NegativeTTL: f.negCacheTTL, MaxEntries: f.cacheSize})
		if err != nil {
			ls.close()
			p.Close()
			return fail(err)
		}
		submitter = answers
		m.Register(cacheCollector(answers))
	}
	status := func() any { return newStatus(started, p, answers) }
	clientTimeout := f.clientTimeout
	if clientTimeout == 0 {
		clientTimeout = -1 // the flag's 0 is "never"; the Config's is "default"
	}
	srv, err := server.New(server.Config{
		Pool:                  submitter,
		Logger:                clientLog,
		AllowUIDs:             f.allowUIDs.ids,
		AllowGIDs:             f.allowGIDs.ids,
		ClientTimeout:         clientTimeout,
		MaxConnections:        adm.plan.perListener,
		MaxConnectionsPerPeer: adm.plan.perPeer,
		Budget:                adm.budget,
		Status:                status,
	})
	if err != nil {
		ls.close()
		p.Close()
		return fail(err)
	}
	ops := opsHandler(m, p, status)
	type httpServer struct {
		*http.Server
		l net.Listener
	}
	var httpSrvs []httpServer
	newHTTP := func(h http.Handler, l net.Listener) {
		s := &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       10 * time.Second,
			WriteTimeout:      2*cfg.Timeout + cfg.StartTimeout + 5*time.Second,
			IdleTimeout:       time.Minute,
			ErrorLog:          slog.NewLogLogger(limited, slog.LevelWarn),
		}
		httpSrvs = append(httpSrvs, httpServer{s, l})
	}
	if ls.http != nil {
		api, err := server.NewHTTPHandler(server.HTTPConfig{Pool: submitter, Protocol: cfg.Protocol,
			Credentials: creds, InsecureNoAuth: f.httpInsecure, Logger: clientLog})
		if err != nil {
			ls.close()
			p.Close()
			return fail(err)
		}
		newHTTP(withOps(api, ops, creds), adm.gate(ls.http, "http"))
		if f.httpInsecure {
			log.Error("HTTP API WITHOUT AUTHENTICATION (--http-insecure-no-auth): anyone who can connect to it can check and set passwords",
				"addr", ls.http.Addr().String())
		}
	}
	if ls.metrics != nil {
		newHTTP(ops, adm.gate(ls.metrics, "metrics"))
	}

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	// Each listener's serve loop reports here when it ends; only a failure
	// ends one before shutdown.
	ended := make(chan error, 4)
	running := 1
	go func() { ended <- srv.Serve(ls.main) }()
	if ls.ejabberd != nil {
		running++
		go func() { ended <- srv.ServeEjabberd(ls.ejabberd) }()
	}
	for _, hs := range httpSrvs {
		running++
		go func() { ended <- hs.Serve(hs.l) }()
		log.Info("http listening", "addr", hs.l.Addr().String())
	}
	// The socket served, which systemd may have handed over instead of
	// the one --socket names.
	socket := ls.main.Addr().String()
	if abs, err := filepath.Abs(socket); err == nil {
		socket = abs
	}
	log.Info("authpool serving", "socket", socket, "helper", cfg.Command[0],
		"processes", cfg.Processes, "protocol", cfg.Protocol, "mode", cfg.Mode,
		"transport", cfg.Transport, "timeout", cfg.Timeout)
	readyDone := notifyReadyWhenUp(ctx, p, cfg, log)

	code := 0
loop:
	for {
		select {
		case <-ctx.Done():
			log.Info("shutting down", "cause", context.Cause(ctx))
			break loop
		case <-hup:
			reload(ctx, args, stderr, f, p, level, log)
			adm.helpersNow(len(p.Stats().Helpers))
		case err := <-ended:
			running--
			log.Error("serving failed", "err", err)
			code = 1
			break loop
		}
	}
	stop()
	notifyStopping(log)
	<-readyDone

	// One deadline for everything: answer what was read, let the helpers
	// finish, then kill what is left.
	sctx, cancel := context.WithTimeout(context.Background(), f.shutdown)
	defer cancel()
	for _, hs := range httpSrvs {
		if err := hs.Shutdown(sctx); err != nil {
			log.Warn("http requests cut short", "err", err)
		}
	}
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("connections closed before every answer was written", "err", err)
	}
	if err := p.Shutdown(sctx); err != nil {
		log.Warn("helpers killed before they finished", "err", err)
	}
	for ; running > 0; running-- {
		<-ended // each listener is closed, and its socket file removed
	}
	limited.Close() // the counts of what was dropped, before the last line
	log.Info("stopped")
	return code
}
