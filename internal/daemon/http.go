package daemon

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/authpool/authpool/server"
)

// httpFront is one HTTP listener (the API, or the operator endpoints) and
// its server, which it owns to the end: a shutdown whose deadline passes
// abandons the requests in flight (their context ends, so the pool lets go
// of them at once) and waits for their handlers to return.
type httpFront struct {
	srv     *http.Server
	l       net.Listener
	abandon context.CancelFunc // ends every request's context

	mu    sync.Mutex
	conns int        // open connections, a handler running or not
	gone  *sync.Cond // signalled when conns drops
}

func newHTTPFront(h http.Handler, l net.Listener, writeTimeout time.Duration, errLog slog.Handler) *httpFront {
	f := &httpFront{l: l}
	f.gone = sync.NewCond(&f.mu)
	base, abandon := context.WithCancel(context.Background())
	f.abandon = abandon
	f.srv = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       time.Minute,
		ErrorLog:          slog.NewLogLogger(errLog, slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return base },
		ConnState:         f.track,
	}
	return f
}

// track counts connections: net/http reports StateClosed once a
// connection's goroutine, its handler included, is done with it.
func (f *httpFront) track(_ net.Conn, st http.ConnState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch st {
	case http.StateNew:
		f.conns++
	case http.StateClosed, http.StateHijacked:
		f.conns--
		f.gone.Broadcast()
	}
}

// serve serves until shutdown; it is an actor's execute.
func (f *httpFront) serve() error {
	if err := f.srv.Serve(f.l); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return server.ErrServerClosed
}

// shutdown stops accepting, lets the requests in flight finish until ctx
// ends, then abandons the rest; it returns when every handler has.
func (f *httpFront) shutdown(ctx context.Context, log *slog.Logger) {
	if err := f.srv.Shutdown(ctx); err != nil {
		log.Warn("http requests cut short", "err", err)
	}
	// Closed first, so that no request ended here is answered.
	f.srv.Close()
	f.abandon()
	f.mu.Lock()
	for f.conns > 0 {
		f.gone.Wait()
	}
	f.mu.Unlock()
}

// errNoHTTPAuth is an HTTP listener with neither credentials nor
// Config.HTTPInsecureNoAuth.
var errNoHTTPAuth = errors.New("the HTTP API needs credentials: --http-credentials-file FILE holding USER:PASSWORD " +
	"(what Prosody's http_auth_credentials says), or, only where nobody else can reach it, --http-insecure-no-auth")

// httpCredentials returns the HTTP Basic credentials for an HTTP listener
// (httpOn: opened, or handed over by systemd). They are required unless
// HTTPInsecureNoAuth says otherwise, and must protect something: blank
// ones are refused, never read as "no authentication".
func (d *Daemon) httpCredentials(httpOn bool) (string, error) {
	cfg := &d.cfg
	given := cfg.HTTPCredentials != nil
	switch {
	case !httpOn && (given || cfg.HTTPInsecureNoAuth):
		return "", errors.New("HTTP credentials or --http-insecure-no-auth given without --http")
	case !httpOn:
		return "", nil
	case cfg.HTTPInsecureNoAuth && given:
		return "", errors.New("give HTTP credentials or --http-insecure-no-auth, not both")
	case cfg.HTTPInsecureNoAuth:
		return "", nil
	case !given:
		return "", errNoHTTPAuth
	}
	creds, err := cfg.HTTPCredentials()
	if err != nil {
		return "", err
	}
	if err := server.CheckCredentials(creds); err != nil {
		return "", err
	}
	return creds, nil
}
