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
	"strings"
	"syscall"
	"time"

	"github.com/authpool/authpool/pool"
	"github.com/authpool/authpool/server"
)

func serve(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f serveFlags
	f.register(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: authpool serve [flags] [-- COMMAND ARGS...]\n\nRun auth helpers and serve them on a Unix socket.\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "authpool serve: %v\n", err)
		return 1
	}
	log, err := newLogger(f.logLevel, f.logFormat, stderr)
	if err != nil {
		return fail(err)
	}
	cfg, err := f.poolConfig(fs.Args(), log)
	if err != nil {
		return fail(err)
	}
	creds, err := f.httpCredentials()
	if err != nil {
		return fail(err)
	}

	// Listeners first: ListenUnix sets the umask for an instant, and no
	// helper may be forked meanwhile. A live daemon on a path stops us here,
	// before any helper starts.
	ls, err := f.listen()
	if err != nil {
		return fail(err)
	}
	p, err := pool.New(cfg)
	if err != nil {
		ls.close()
		return fail(err)
	}
	clientTimeout := f.clientTimeout
	if clientTimeout == 0 {
		clientTimeout = -1 // the flag's 0 is "never"; the Config's is "default"
	}
	srv, err := server.New(server.Config{
		Pool:           p,
		Logger:         log,
		AllowUIDs:      f.allowUIDs.ids,
		AllowGIDs:      f.allowGIDs.ids,
		ClientTimeout:  clientTimeout,
		MaxConnections: f.maxConns,
	})
	if err != nil {
		ls.close()
		p.Close()
		return fail(err)
	}
	var httpSrv *http.Server
	if ls.http != nil {
		h, err := server.NewHTTPHandler(server.HTTPConfig{Pool: p, Protocol: cfg.Protocol, Credentials: creds, Logger: log})
		if err != nil {
			ls.close()
			p.Close()
			return fail(err)
		}
		httpSrv = &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       10 * time.Second,
			WriteTimeout:      2*cfg.Timeout + 5*time.Second,
			IdleTimeout:       time.Minute,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		}
	}

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	// Each listener's serve loop reports here when it ends; only a failure
	// ends one before shutdown.
	ended := make(chan error, 3)
	running := 1
	go func() { ended <- srv.Serve(ls.main) }()
	if ls.ejabberd != nil {
		running++
		go func() { ended <- srv.ServeEjabberd(ls.ejabberd) }()
	}
	if httpSrv != nil {
		running++
		go func() { ended <- httpSrv.Serve(ls.http) }()
		log.Info("http listening", "addr", ls.http.Addr().String())
	}
	abs, _ := filepath.Abs(f.socket)
	log.Info("authpool serving", "socket", abs, "helper", cfg.Command[0],
		"processes", cfg.Processes, "protocol", cfg.Protocol, "mode", cfg.Mode,
		"transport", cfg.Transport, "timeout", cfg.Timeout)

	code := 0
	select {
	case <-ctx.Done():
		log.Info("shutting down", "cause", context.Cause(ctx))
	case err := <-ended:
		running--
		log.Error("serving failed", "err", err)
		code = 1
	}
	stop()

	// One deadline for everything: answer what was read, let the helpers
	// finish, then kill what is left.
	sctx, cancel := context.WithTimeout(context.Background(), f.shutdown)
	defer cancel()
	if httpSrv != nil {
		if err := httpSrv.Shutdown(sctx); err != nil {
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
	log.Info("stopped")
	return code
}

// listeners are the daemon's open listeners.
type listeners struct {
	main, ejabberd, http net.Listener
}

func (ls *listeners) close() {
	for _, l := range []net.Listener{ls.main, ls.ejabberd, ls.http} {
		if l != nil {
			l.Close()
		}
	}
}

// listen opens every listener the flags ask for, or none.
func (f *serveFlags) listen() (*listeners, error) {
	gid := -1
	if f.sockGroup != "" {
		var err error
		if gid, err = lookupGID(f.sockGroup); err != nil {
			return nil, fmt.Errorf("--socket-group %q: %w", f.sockGroup, err)
		}
	}
	mode := os.FileMode(f.sockMode)
	ls := &listeners{}
	var err error
	// The main socket last: clients (and tests) take it accepting as the
	// sign that the daemon is up.
	if f.ejabberdSocket != "" {
		if ls.ejabberd, err = server.ListenUnix(f.ejabberdSocket, mode, gid); err != nil {
			return nil, fmt.Errorf("--ejabberd-socket: %w", err)
		}
	}
	if f.http != "" {
		if ls.http, err = listenHTTP(f.http, mode, gid); err != nil {
			ls.close()
			return nil, fmt.Errorf("--http: %w", err)
		}
	}
	if ls.main, err = server.ListenUnix(f.socket, mode, gid); err != nil {
		ls.close()
		return nil, err
	}
	return ls, nil
}

// listenHTTP listens on "unix:/path" or on a loopback host:port. The HTTP
// API carries passwords in clear (mod_auth_http puts them in the query
// string), so it never listens beyond this machine.
func listenHTTP(addr string, mode os.FileMode, gid int) (net.Listener, error) {
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		return server.ListenUnix(path, mode, gid)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if ta, ok := l.Addr().(*net.TCPAddr); !ok || !ta.IP.IsLoopback() {
		l.Close()
		return nil, fmt.Errorf("%s is not a loopback address: passwords travel in clear over this API, so it serves only 127.0.0.1, [::1] or a unix: socket", addr)
	}
	return l, nil
}
