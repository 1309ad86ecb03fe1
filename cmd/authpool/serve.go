package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

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

	// The socket first: ListenUnix sets the umask for an instant, and no
	// helper may be forked meanwhile. A live daemon on the path stops us
	// here, before any helper starts.
	gid := -1
	if f.sockGroup != "" {
		if gid, err = lookupGID(f.sockGroup); err != nil {
			return fail(fmt.Errorf("--socket-group %q: %w", f.sockGroup, err))
		}
	}
	l, err := server.ListenUnix(f.socket, os.FileMode(f.sockMode), gid)
	if err != nil {
		return fail(err)
	}
	p, err := pool.New(cfg)
	if err != nil {
		l.Close()
		return fail(err)
	}
	srv, err := server.New(server.Config{Pool: p, Logger: log, AllowUIDs: f.allowUIDs.ids, AllowGIDs: f.allowGIDs.ids})
	if err != nil {
		l.Close()
		p.Close()
		return fail(err)
	}

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(l) }()
	abs, _ := filepath.Abs(f.socket)
	log.Info("authpool serving", "socket", abs, "helper", cfg.Command[0],
		"processes", cfg.Processes, "protocol", cfg.Protocol, "mode", cfg.Mode,
		"transport", cfg.Transport, "timeout", cfg.Timeout)

	code := 0
	select {
	case <-ctx.Done():
		log.Info("shutting down", "cause", context.Cause(ctx))
	case err := <-serveErr:
		// Serve ends by itself only on a listener failure.
		log.Error("serving failed", "err", err)
		serveErr <- err
		code = 1
	}
	stop()

	// One deadline for everything: answer what was read, let the helpers
	// finish, then kill what is left.
	sctx, cancel := context.WithTimeout(context.Background(), f.shutdown)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("connections closed before every answer was written", "err", err)
	}
	if err := p.Shutdown(sctx); err != nil {
		log.Warn("helpers killed before they finished", "err", err)
	}
	<-serveErr // the listener is closed and the socket file removed
	log.Info("stopped")
	return code
}
