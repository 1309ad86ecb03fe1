package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	authpoold "github.com/authpool/authpool/internal/daemon"
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
	if err := f.cluster.checkCommandLine(); err != nil {
		return nil, nil, configError{err}
	}
	if f.config != "" {
		if err := loadConfigFile(f.config, fs, &f.commandArgs); err != nil {
			return nil, nil, configError{err}
		}
	}
	if err := checkNumbers(fs); err != nil {
		return nil, nil, configError{err}
	}
	return f, fs, nil
}

// configError is a config file that does not load.
type configError struct{ error }

// serve runs authpool serve: the flags (and config file) become a
// authpoold.Config, and the daemon runs until SIGTERM or SIGINT.
func serve(ctx context.Context, args []string, stderr io.Writer) int {
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
	cfg, err := f.daemonConfig(fs.Args(), log)
	if err != nil {
		return fail(err)
	}
	cfg.Level = level
	cfg.Reload = func() (authpoold.Reloaded, error) { return reloadConfig(args, f, log) }
	if f.httpCreds.set {
		log.Warn("--http-credentials on the command line: every local user can read it with ps; use --http-credentials-file")
	}
	d, err := authpoold.New(cfg)
	if err != nil {
		return fail(err)
	}
	if err := d.Run(ctx); err != nil {
		return fail(err)
	}
	return 0
}
