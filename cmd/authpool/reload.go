package main

import (
	"io"
	"log/slog"
	"slices"

	authpoold "github.com/authpool/authpool/internal/daemon"
)

// reloadConfig re-reads the command line and the config file (SIGHUP) for
// what the daemon applies while running: the helpers (command, arguments,
// environment, directory, transport, protocol, count), timeouts, recycling
// limits and the log level. The daemon proves a new helper command first
// (see pool.Reconfigure) and replaces helpers one at a time, between
// requests, so no request fails; a config that does not load, a command
// that fails its probe, or a pool that refuses it, leaves the running one
// as it was. Settings that need a restart (sockets, mode, queue, access
// control, cache, penalties, --redis and the cluster secret) are logged. Penalty settings take a restart,
// which forgets every current penalty: the Guard cannot change its rules
// under attempts already in line.
func reloadConfig(args []string, cur *serveFlags, log *slog.Logger) (authpoold.Reloaded, error) {
	log.Info("reloading", "config", cur.config)
	next, fs, err := parseServeFlags(args, io.Discard)
	if err != nil {
		return authpoold.Reloaded{}, err
	}
	cfg, err := next.poolConfig(fs.Args(), log)
	if err != nil {
		return authpoold.Reloaded{}, err
	}
	lv, err := parseLevel(next.logLevel)
	if err != nil {
		return authpoold.Reloaded{}, err
	}
	tlsFiles, err := next.tls.files()
	if err != nil {
		return authpoold.Reloaded{}, err
	}
	for name, changed := range map[string]bool{
		"socket":          next.socket != cur.socket,
		"socket-mode":     next.sockMode != cur.sockMode,
		"socket-group":    next.sockGroup != cur.sockGroup,
		"ejabberd-socket": next.ejabberdSocket != cur.ejabberdSocket,
		"http":            next.http != cur.http,
		"metrics":         next.metrics != cur.metrics,
		"listen-tls":      next.tls.listen != cur.tls.listen,
		"mode":            next.mode != cur.mode,
		"queue":           next.queue != cur.queue,
		"allow-uid":       !slices.Equal(next.allowUIDs.ids, cur.allowUIDs.ids),
		"allow-gid":       !slices.Equal(next.allowGIDs.ids, cur.allowGIDs.ids),
		"cache-ttl":       next.cacheTTL != cur.cacheTTL || next.negCacheTTL != cur.negCacheTTL || next.cacheSize != cur.cacheSize,
		"client-timeout":  next.clientTimeout != cur.clientTimeout || next.maxConns != cur.maxConns,
		"log-format":      next.logFormat != cur.logFormat,
		"penalty-*":       next.penalty.changed(&cur.penalty),
		"redis":           next.cluster.changed(&cur.cluster),
	} {
		if changed {
			log.Warn("setting changed, but only a restart applies it", "setting", name)
		}
	}
	return authpoold.Reloaded{Pool: cfg, Level: lv, TLS: tlsFiles}, nil
}
