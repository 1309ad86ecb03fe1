package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/authpool/authpool/cache"
	"github.com/authpool/authpool/internal/loglimit"
	"github.com/authpool/authpool/metrics"
	"github.com/authpool/authpool/penalty"
	"github.com/authpool/authpool/pool"
	"github.com/authpool/authpool/server"
)

// Config is what the daemon serves, and how. Pool.Command is required;
// every other zero value has the default its comment gives. Errors name
// authpool serve's flags: the daemon is serve's.
type Config struct {
	// Pool configures the helpers. Its Observer is the daemon's metrics;
	// its Logger, when nil, is Logger.
	Pool pool.Config

	// Socket is the Unix socket of the generic and native protocols,
	// unless systemd passes one (socket activation). One of the two is
	// required.
	Socket string
	// SocketMode is the permissions of every Unix socket the daemon
	// creates; zero means 0600, the owner only (serve's default is 0660,
	// for SocketGroup). A world-writable mode is refused.
	SocketMode os.FileMode
	// SocketGroup, a group name or number, owns the sockets the daemon
	// creates; empty leaves them the daemon's group.
	SocketGroup string
	// EjabberdSocket, when set, is a Unix socket for ejabberd's framing.
	EjabberdSocket string
	// HTTP, when set, serves the HTTP API (Prosody's mod_auth_http) and
	// the operator endpoints on HOST:PORT (loopback only) or unix:/PATH.
	HTTP string
	// Metrics, when set, serves /metrics, /healthz and /status on
	// HOST:PORT (loopback only) or unix:/PATH.
	Metrics string
	// ListenTLS, when set, serves the native protocol over mutual TLS on
	// this HOST:PORT, any address: TLS names the files, all required.
	ListenTLS string
	TLS       server.TLSFiles

	// AllowUIDs and AllowGIDs, when either is set, admit only the peers
	// they list, on every listener (server.GateConfig).
	AllowUIDs, AllowGIDs []uint32
	// ClientTimeout closes a socket client silent that long while it owes
	// nothing; zero means 1 minute, negative never (server.Config).
	ClientTimeout time.Duration
	// MaxConnections bounds the connections of each listener; zero means
	// 1024. It is lowered to fit the open-file limit.
	MaxConnections int
	// MaxConnectionsPerPeer bounds one peer's connections on each
	// listener; zero means a quarter of MaxConnections.
	MaxConnectionsPerPeer int

	// HTTPCredentials, when set, gives the USER:PASSWORD the HTTP API
	// requires; it is called only when there is an HTTP listener (one
	// systemd passes included). The API refuses to start without it
	// unless HTTPInsecureNoAuth is set, and either without a listener.
	HTTPCredentials func() (string, error)
	// HTTPInsecureNoAuth serves the HTTP API without credentials.
	HTTPInsecureNoAuth bool

	// CacheTTL and NegativeCacheTTL, when either is set, put an answer
	// cache in front of the pool (cache.Config); CacheSize bounds it,
	// zero meaning cache.DefaultMaxEntries.
	CacheTTL, NegativeCacheTTL time.Duration
	CacheSize                  int

	// Penalty configures the guessing defence in front of the cache and
	// the pool (package penalty): on by default, with its defaults; Off
	// turns it off (--penalty-base 0). Its Next and Logger are the
	// daemon's: the Logger is the unlimited one, since fail2ban must see
	// every failure line.
	Penalty penalty.Config
	// Shared, when its Redis is set, shares the penalties and the answer
	// cache with every daemon naming the same Redis (--redis,
	// --cluster-secret-file); CacheSize does not bound the shared cache
	// (Redis's maxmemory does).
	Shared Shared

	// ShutdownTimeout bounds a graceful shutdown: answering what was read,
	// letting the helpers finish, then killing what is left. Zero means
	// 10s.
	ShutdownTimeout time.Duration

	// Logger receives the daemon's events; nil discards them. Lines that
	// clients cause go through a rate limiter.
	Logger *slog.Logger
	// Level is Logger's level, which a reload sets; nil means none can.
	Level *slog.LevelVar
	// Reload, when set, is called on SIGHUP for the settings to apply
	// while running; an error keeps the running ones. Nil ignores SIGHUP.
	Reload func() (Reloaded, error)
	// Signals, when set, is where the daemon takes its signals from
	// (SIGTERM and SIGINT stop it, SIGHUP reloads); nil means the
	// process's own.
	Signals <-chan os.Signal
}

// Reloaded is what a reload applies: a new pool configuration (helpers,
// timeouts, recycling; pool.Reconfigure says what may change) and a log
// level.
type Reloaded struct {
	Pool  pool.Config
	Level slog.Level
	// TLS is reloaded from its files when there is a TLS listener.
	TLS server.TLSFiles
}

// Daemon is authpool serve: the helpers, the listeners and everything
// between them, run as a group of actors. Create it with New.
type Daemon struct {
	cfg     Config
	log     *slog.Logger
	started time.Time
	ran     sync.Once
	tls     *server.TLS // the TLS listener's, reloaded on SIGHUP; nil without one
}

// ErrRunTwice is returned by a second call of Run.
var ErrRunTwice = errors.New("daemon: Run called twice")

// New checks cfg and applies its defaults; it starts nothing.
func New(cfg Config) (*Daemon, error) {
	switch {
	case len(cfg.Pool.Command) == 0:
		return nil, errors.New("no helper command: use --command \"CMD ARGS\" or -- CMD ARGS")
	case cfg.SocketMode.Perm()&0o002 != 0:
		return nil, fmt.Errorf("--socket-mode %#o is world-writable: anyone could ask for passwords to be checked", cfg.SocketMode.Perm())
	case cfg.MaxConnections < 0 || cfg.MaxConnectionsPerPeer < 0:
		return nil, errors.New("--max-connections and --max-connections-per-peer cannot be negative")
	case cfg.CacheTTL < 0 || cfg.NegativeCacheTTL < 0 || cfg.CacheSize < 0:
		return nil, errors.New("--cache-ttl, --negative-cache-ttl and --cache-size cannot be negative")
	case cfg.ShutdownTimeout < 0:
		return nil, errors.New("--shutdown-timeout cannot be negative")
	}
	if err := cfg.Shared.check(&cfg); err != nil {
		return nil, err
	}
	if cfg.Shared.Redis != "" {
		cfg.Penalty.Secret = cfg.Shared.Secret
	}
	if !cfg.Penalty.Off {
		// Refused here, before anything starts, rather than once the
		// helpers are up. The Guard allocates its tables as keys come.
		probe := cfg.Penalty
		probe.Next = (*pool.Pool)(nil) // never asked
		if _, err := penalty.New(probe); err != nil {
			return nil, fmt.Errorf("--penalty-*: %w", err)
		}
	}
	if cfg.SocketMode == 0 {
		cfg.SocketMode = 0o600
	}
	if cfg.MaxConnections == 0 {
		cfg.MaxConnections = 1024
	}
	if cfg.MaxConnectionsPerPeer > cfg.MaxConnections {
		return nil, fmt.Errorf("--max-connections-per-peer %d is more than --max-connections %d", cfg.MaxConnectionsPerPeer, cfg.MaxConnections)
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Pool.Logger == nil {
		cfg.Pool.Logger = cfg.Logger
	}
	return &Daemon{cfg: cfg, log: cfg.Logger, started: time.Now()}, nil
}

// Run starts the daemon and serves until ctx ends, SIGTERM or SIGINT, or a
// listener fails; then it shuts down gracefully within ShutdownTimeout. It
// returns when every actor has stopped and everything it started is closed,
// socket files and helpers included: nil after a shutdown it was asked
// for, the error otherwise (a start-up that failed, a listener that
// broke). Run runs once.
func (d *Daemon) Run(ctx context.Context) error {
	err := ErrRunTwice
	d.ran.Do(func() { err = d.run(ctx) })
	return err
}

// cleanups are what Run undoes, in reverse order: the one place where
// anything the daemon started is closed, on every path out of Run.
type cleanups []func()

func (c *cleanups) add(f func()) { *c = append(*c, f) }

func (c cleanups) run() {
	for i := len(c) - 1; i >= 0; i-- {
		c[i]()
	}
}

func (d *Daemon) run(ctx context.Context) (err error) {
	cfg, log := &d.cfg, d.log
	var undo cleanups
	defer func() { undo.run() }()

	undo.add(reapEscapedDescendants(log))
	// Lines that clients cause (refusals, malformed requests, failures)
	// go through a limiter: a flood of requests is not a flood of lines.
	limited := loglimit.New(log.Handler(), loglimit.Config{})
	serving := false
	undo.add(func() {
		limited.Close() // the counts of what was dropped, before the last line
		if serving {
			log.Info("stopped")
		}
	})
	clients := slog.New(limited)
	sig := cfg.Signals
	if sig == nil {
		ch := make(chan os.Signal, 4)
		signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
		undo.add(func() { signal.Stop(ch) })
		sig = ch
	}

	// Listeners first: ListenUnix sets the umask for an instant, and no
	// helper may be forked meanwhile. A live daemon on a path stops us here,
	// before any helper starts.
	ls, err := d.listen()
	if err != nil {
		return err
	}
	undo.add(ls.close) // each server closes its own too, removing its socket file
	if ls.tls != nil {
		if d.tls, err = server.NewTLS(cfg.TLS); err != nil {
			return err
		}
	}
	creds, err := d.httpCredentials(ls.http != nil)
	if err != nil {
		return err
	}
	// A helper that cannot start would answer no to everyone, forever:
	// refuse to start instead, saying why. SIGTERM cuts the probe short.
	var probeErr error
	if stop, _ := cutShort(ctx, sig, func(ctx context.Context) { probeErr = pool.Probe(ctx, cfg.Pool) }); stop != nil {
		return fmt.Errorf("%v while proving the helper command: %w", stop, context.Canceled)
	}
	if probeErr != nil {
		return probeErr
	}
	m := metrics.New()
	pcfg := cfg.Pool
	pcfg.Observer = m
	adm, err := newAdmission(cfg, ls, pcfg.Processes, log, clients)
	if err != nil {
		return err
	}
	p, err := pool.New(pcfg)
	if err != nil {
		return err
	}
	undo.add(func() { p.Close() }) // after a Shutdown, only if Run failed before one
	m.Watch(p.Stats)

	var doer server.Doer = p
	var answers *cache.Cache
	var shared sharedState
	if cacheOn(cfg) {
		ccfg := cache.Config{Next: p, TTL: cfg.CacheTTL, NegativeTTL: cfg.NegativeCacheTTL}
		if cfg.Shared.Redis != "" {
			store, err := cfg.Shared.openCache(m, log, &shared)
			if err != nil {
				return err
			}
			// Closed after the server's shutdown, which Run waits for:
			// no request asks the store any more.
			undo.add(func() { store.Close() })
			ccfg.Store, ccfg.Secret = store, cfg.Shared.Secret
		} else {
			ccfg.MaxEntries = cfg.CacheSize
		}
		answers, err = cache.New(ccfg)
		if err != nil {
			return err
		}
		doer = answers
		m.WatchCache(answers.Stats)
	}
	// The Guard goes in front of the cache: a cached yes is the answer a
	// guesser is after, and must wait out the penalties as well.
	var penStats func() penalty.Stats
	if !cfg.Penalty.Off {
		pen := cfg.Penalty
		pen.Next, pen.Logger = doer, log
		if cfg.Shared.Redis != "" {
			store, err := cfg.Shared.openPenalties(cfg, m, log, &shared)
			if err != nil {
				return err
			}
			undo.add(func() { store.Close() })
			pen.Store = store
		}
		guard, err := penalty.New(pen)
		if err != nil {
			return fmt.Errorf("--penalty-*: %w", err)
		}
		doer = guard
		m.WatchPenalty(guard.Stats)
		penStats = guard.Stats
	}
	status := func() Status { return newStatus(d.started, p, answers, shared.status, penStats) }
	srv, err := server.New(server.Config{
		Pool:                  doer,
		Logger:                clients,
		AllowUIDs:             cfg.AllowUIDs,
		AllowGIDs:             cfg.AllowGIDs,
		ClientTimeout:         cfg.ClientTimeout,
		MaxConnections:        adm.plan.perListener,
		MaxConnectionsPerPeer: adm.plan.perPeer,
		Budget:                adm.budget,
		Status:                func() any { return status() },
	})
	if err != nil {
		return err
	}
	ops := opsHandler(m, p, status)
	pc := cfg.Pool
	timeout, startTimeout := exchangeTimeouts(pc)
	httpTimeout := 2*timeout + startTimeout + 5*time.Second
	var fronts []*httpFront
	if ls.http != nil {
		api, err := server.NewHTTPHandler(server.HTTPConfig{Pool: doer, Protocol: pc.Protocol,
			Credentials: creds, InsecureNoAuth: cfg.HTTPInsecureNoAuth, Logger: clients})
		if err != nil {
			return err
		}
		fronts = append(fronts, newHTTPFront(withOps(api, ops, creds), adm.gate(ls.http, "http"), httpTimeout, limited))
		if cfg.HTTPInsecureNoAuth {
			log.Error("HTTP API WITHOUT AUTHENTICATION (--http-insecure-no-auth): anyone who can connect to it can check and set passwords",
				"addr", ls.http.Addr().String())
		}
	}
	if ls.metrics != nil {
		fronts = append(fronts, newHTTPFront(ops, adm.gate(ls.metrics, "metrics"), httpTimeout, limited))
	}

	g := d.actors(ctx, sig, p, adm, srv, ls, fronts)
	for _, f := range fronts {
		log.Info("http listening", "addr", f.l.Addr().String())
	}
	// The socket served, which systemd may have handed over instead of
	// the one Config.Socket names.
	socket := ls.main.Addr().String()
	if abs, err := filepath.Abs(socket); err == nil {
		socket = abs
	}
	if ls.tls != nil {
		log.Info("serving the native protocol over mutual TLS", "addr", ls.tls.Addr().String(),
			"client_ca", cfg.TLS.ClientCA, "allow_cn", cfg.TLS.AllowCN)
	}
	log.Info("authpool serving", "socket", socket, "helper", pc.Command[0],
		"processes", pc.Processes, "protocol", pc.Protocol, "mode", pc.Mode,
		"transport", pc.Transport, "timeout", pc.Timeout)
	serving = true
	if err := g.Run(); err != nil {
		log.Error("serving failed", "err", err)
		return fmt.Errorf("serving failed: %w", err)
	}
	return nil
}
