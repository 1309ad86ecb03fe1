package main

import (
	"context"
	"io"
	"log/slog"
	"slices"

	"github.com/authpool/authpool/pool"
)

// reload re-reads the command line and the config file (SIGHUP) and applies
// what can change while running: the helpers (command, arguments,
// environment, directory, transport, protocol, count), timeouts, recycling
// limits and the log level. A new helper command is proved first (one
// helper is started and asked a probe; see pool.Probe), then helpers are
// replaced one at a time, between requests, so no request fails. A config
// that does not load, a command that fails its probe (the log says why,
// with its stderr), or a pool that refuses it, leaves the running one as it
// was. SIGTERM cuts a probe short. Settings that need a
// restart (sockets, mode, queue, access control, cache) are logged.
func reload(ctx context.Context, args []string, stderr io.Writer, cur *serveFlags, p *pool.Pool, level *slog.LevelVar, log *slog.Logger) {
	log.Info("reloading", "config", cur.config)
	next, fs, err := parseServeFlags(args, io.Discard)
	if err != nil {
		log.Error("reload failed; keeping the running configuration", "err", err)
		return
	}
	cfg, err := next.poolConfig(fs.Args(), log)
	if err != nil {
		log.Error("reload failed; keeping the running configuration", "err", err)
		return
	}
	lv, err := parseLevel(next.logLevel)
	if err != nil {
		log.Error("reload failed; keeping the running configuration", "err", err)
		return
	}
	for name, changed := range map[string]bool{
		"socket":          next.socket != cur.socket,
		"socket-mode":     next.sockMode != cur.sockMode,
		"socket-group":    next.sockGroup != cur.sockGroup,
		"ejabberd-socket": next.ejabberdSocket != cur.ejabberdSocket,
		"http":            next.http != cur.http,
		"metrics":         next.metrics != cur.metrics,
		"mode":            next.mode != cur.mode,
		"queue":           next.queue != cur.queue,
		"allow-uid":       !slices.Equal(next.allowUIDs.ids, cur.allowUIDs.ids),
		"allow-gid":       !slices.Equal(next.allowGIDs.ids, cur.allowGIDs.ids),
		"cache-ttl":       next.cacheTTL != cur.cacheTTL || next.negCacheTTL != cur.negCacheTTL || next.cacheSize != cur.cacheSize,
		"client-timeout":  next.clientTimeout != cur.clientTimeout || next.maxConns != cur.maxConns,
		"log-format":      next.logFormat != cur.logFormat,
	} {
		if changed {
			log.Warn("setting changed, but only a restart applies it", "setting", name)
		}
	}
	cfg.Logger = nil // the pool keeps its own
	if err := p.Reconfigure(ctx, cfg); err != nil {
		log.Error("reload failed; keeping the running configuration", "err", err)
		return
	}
	level.Set(lv)
	log.Info("reloaded")
}
