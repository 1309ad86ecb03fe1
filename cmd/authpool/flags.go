package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"strconv"
	"strings"
	"time"

	shellquote "github.com/kballard/go-shellquote"

	"github.com/authpool/authpool/framing"
	authpoold "github.com/authpool/authpool/internal/daemon"
	"github.com/authpool/authpool/internal/secretfile"
	"github.com/authpool/authpool/pool"
	"github.com/authpool/authpool/ptyproc"
	"github.com/authpool/authpool/server"
)

// serveFlags are authpool serve's settings. Names follow Prosody's
// external_auth_* options where there is one (see README.md).
type serveFlags struct {
	config         string
	command        string
	commandArgs    []string // from a config file's command array
	protocol       string
	mode           string
	processes      int
	timeout        time.Duration
	startTimeout   time.Duration
	queueTimeout   time.Duration
	maxRequests    int
	maxAge         time.Duration
	outOfStepLimit int
	untrustedFor   time.Duration
	answerGrace    time.Duration
	noConfirmYes   bool
	transport      string
	queue          int
	env            multiFlag
	dir            string
	socket         string
	sockMode       octalFlag
	sockGroup      string
	allowUIDs      idList
	allowGIDs      idList
	clientTimeout  time.Duration
	maxConns       int
	maxPerPeer     int
	ejabberdSocket string
	http           string
	httpCreds      setString
	httpCredsFile  setString
	httpInsecure   bool
	metrics        string
	cacheTTL       time.Duration
	negCacheTTL    time.Duration
	cacheSize      int
	logLevel       string
	logFormat      string
	shutdown       time.Duration
	tls            tlsFlags
	penalty        penaltyFlags
	cluster        clusterFlags
}

func (f *serveFlags) register(fs *flag.FlagSet) {
	f.registerPool(fs)
	fs.StringVar(&f.config, "config", "", "TOML file whose keys are these flags' names; flags given here win; re-read on SIGHUP")
	f.allowUIDs.lookup = func(n string) (string, error) {
		u, err := user.Lookup(n)
		if err != nil {
			return "", err
		}
		return u.Uid, nil
	}
	f.allowGIDs.lookup = func(n string) (string, error) {
		g, err := user.LookupGroup(n)
		if err != nil {
			return "", err
		}
		return g.Gid, nil
	}
	fs.StringVar(&f.socket, "socket", defaultSocket(), "Unix socket to serve on")
	f.sockMode = 0o660
	fs.Var(&f.sockMode, "socket-mode", "socket file permissions, octal; world-writable modes are refused")
	fs.StringVar(&f.sockGroup, "socket-group", "", "group (name or gid) to own the socket, so its members can connect with --socket-mode 0660")
	fs.Var(&f.allowUIDs, "allow-uid", "admit only connections from these users (names or uids, comma-separated or repeated), checked with SO_PEERCRED")
	fs.Var(&f.allowGIDs, "allow-gid", "admit connections from processes with these primary groups (names or gids)")
	fs.DurationVar(&f.clientTimeout, "client-timeout", time.Minute, "close a socket client silent this long while it owes nothing, stalled mid-request or idle (0: never); clients reconnect by themselves")
	fs.IntVar(&f.maxConns, "max-connections", 1024, "most connections open at once on each listener; more are closed at once and logged; lowered if the open-file limit is too low for it")
	fs.IntVar(&f.maxPerPeer, "max-connections-per-peer", 0, "most connections one peer (a uid; over TCP, a uid on loopback or an address) holds at once on each listener (0: a quarter of --max-connections)")
	fs.StringVar(&f.ejabberdSocket, "ejabberd-socket", "", "also serve ejabberd's length-prefixed protocol on this Unix socket")
	fs.StringVar(&f.http, "http", "", "also serve an HTTP API compatible with Prosody's mod_auth_http on HOST:PORT (loopback only) or unix:/PATH")
	fs.Var(&f.httpCreds, "http-credentials", "HTTP Basic auth USER:PASSWORD that --http requires (Prosody's http_auth_credentials); every local user sees it in ps: prefer --http-credentials-file")
	fs.Var(&f.httpCredsFile, "http-credentials-file", "read USER:PASSWORD for the HTTP Basic auth that --http requires from this file (one line; not readable by others)")
	fs.BoolVar(&f.httpInsecure, "http-insecure-no-auth", false, "serve --http without credentials: anyone who can connect can check and set passwords")
	fs.StringVar(&f.metrics, "metrics", "", "serve /metrics (Prometheus), /healthz and /status on HOST:PORT (loopback only) or unix:/PATH; --http serves them too")
	fs.DurationVar(&f.cacheTTL, "cache-ttl", 0, "keep yes answers to auth and isuser this long (0: not cached); keyed by an HMAC, never the password")
	fs.DurationVar(&f.negCacheTTL, "negative-cache-ttl", 0, "keep no answers this long (0: not cached)")
	fs.IntVar(&f.cacheSize, "cache-size", 10000, "most answers cached (with --redis, Redis's maxmemory bounds the shared cache instead)")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&f.logFormat, "log-format", "text", "text or json")
	fs.DurationVar(&f.shutdown, "shutdown-timeout", 10*time.Second, "on SIGTERM, how long in-flight requests and helpers get to finish")
	f.tls.register(fs)
	f.penalty.register(fs)
	f.cluster.register(fs)
}

// registerPool registers the flags that set up the pool and its helpers:
// serve and bench share them, so a pool is set up alike in both.
func (f *serveFlags) registerPool(fs *flag.FlagSet) {
	fs.StringVar(&f.command, "command", "", "helper command line, split like a shell would (quotes honoured, nothing expanded, no shell run); or give it after --")
	fs.StringVar(&f.protocol, "protocol", "generic", "helper protocol: generic (Prosody) or ejabberd (length-prefixed)")
	fs.StringVar(&f.mode, "mode", "blocking", "blocking (callers wait for a free helper) or nonblocking (bounded queue, fails fast when full)")
	fs.IntVar(&f.processes, "processes", 1, "number of helper processes")
	fs.DurationVar(&f.timeout, "timeout", 5*time.Second, "longest wait for one helper answer; a helper that misses it is replaced")
	fs.DurationVar(&f.startTimeout, "start-timeout", 0, "extra time a new helper gets for its first answer (its start-up included) before it is replaced; its caller still waits only --timeout (0: same as --timeout)")
	fs.DurationVar(&f.queueTimeout, "queue-timeout", 0, "longest wait for a free helper, or in the nonblocking queue (0: twice --timeout)")
	fs.IntVar(&f.maxRequests, "max-requests", 0, "replace a helper after it has answered this many requests (0: never); for scripts that leak")
	fs.DurationVar(&f.maxAge, "max-age", 0, "replace a helper after it has run this long (0: never); replacements go one at a time, between requests")
	fs.IntVar(&f.outOfStepLimit, "out-of-step-limit", 3, "helpers caught out of step (output nobody asked for, extra answers, junk) this many times within a minute make the helper command untrusted: every request fails until a probe passes; each catch may have let a stray yes through")
	fs.DurationVar(&f.untrustedFor, "untrusted-for", 30*time.Second, "how long the helper command stays untrusted before a helper is probed; doubles after each failed probe, up to 10m")
	fs.DurationVar(&f.answerGrace, "answer-grace", 0, "watch a helper this long after a yes answer for more output, which shows the yes was a stray (0: no wait; costs this much per yes)")
	fs.BoolVar(&f.noConfirmYes, "no-confirm-yes", false, "never ask a helper twice to confirm a yes (as is done for a new helper's first answers, and after helpers were caught out of step); only for helpers that accept a password once (one-time tokens): a stray 1 is then more likely to be taken for an answer")
	fs.StringVar(&f.transport, "transport", "pty", "pty (works with helpers that never flush) or pipe (faster; the helper must flush)")
	fs.IntVar(&f.queue, "queue", 0, "nonblocking mode: queue length (0: 64 per helper)")
	fs.Var(&f.env, "env", "KEY=VALUE added to the helpers' environment (repeatable); they get only PATH, HOME and LANG otherwise")
	fs.StringVar(&f.dir, "dir", "", "helpers' working directory (default: authpool's)")
}

// poolConfig turns the flags into a pool configuration; rest is what
// followed "--".
func (f *serveFlags) poolConfig(rest []string, log *slog.Logger) (pool.Config, error) {
	var cfg pool.Config
	switch {
	case (f.command != "" || len(f.commandArgs) > 0) && len(rest) > 0:
		return cfg, errors.New("give the helper command with --command or after --, not both")
	case len(f.commandArgs) > 0:
		cfg.Command = f.commandArgs
	case f.command != "":
		args, err := shellquote.Split(f.command)
		if err != nil {
			return cfg, fmt.Errorf("--command: %w", err)
		}
		cfg.Command = args
	default:
		cfg.Command = rest
	}
	if len(cfg.Command) == 0 {
		return cfg, errors.New("no helper command: use --command \"CMD ARGS\" or -- CMD ARGS")
	}
	var err error
	if cfg.Protocol, err = framing.ParseProtocol(f.protocol); err != nil {
		return cfg, fmt.Errorf("--protocol: %w", err)
	}
	if cfg.Mode, err = pool.ParseMode(f.mode); err != nil {
		return cfg, fmt.Errorf("--mode: %w", err)
	}
	if cfg.Transport, err = ptyproc.ParseTransport(f.transport); err != nil {
		return cfg, fmt.Errorf("--transport: %w", err)
	}
	if f.processes < 1 || f.processes > 1024 {
		return cfg, fmt.Errorf("--processes %d: want 1 to 1024", f.processes)
	}
	if f.timeout <= 0 {
		return cfg, fmt.Errorf("--timeout %v: want a positive duration", f.timeout)
	}
	if f.startTimeout < 0 || f.queueTimeout < 0 || f.maxRequests < 0 || f.maxAge < 0 {
		return cfg, errors.New("--start-timeout, --queue-timeout, --max-requests and --max-age cannot be negative")
	}
	if f.outOfStepLimit < 0 || f.untrustedFor < 0 || f.answerGrace < 0 {
		return cfg, errors.New("--out-of-step-limit, --untrusted-for and --answer-grace cannot be negative")
	}
	if f.queue < 0 {
		return cfg, fmt.Errorf("--queue %d: want 0 or more", f.queue)
	}
	for _, kv := range f.env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return cfg, fmt.Errorf("--env %q: want KEY=VALUE", kv)
		}
	}
	cfg.Processes = f.processes
	cfg.Timeout = f.timeout
	cfg.StartTimeout = f.startTimeout
	cfg.QueueTimeout = f.queueTimeout
	cfg.MaxRequests = f.maxRequests
	cfg.MaxAge = f.maxAge
	cfg.OutOfStepLimit = f.outOfStepLimit
	cfg.UntrustedFor = f.untrustedFor
	cfg.AnswerGrace = f.answerGrace
	cfg.NoConfirm = f.noConfirmYes
	cfg.QueueSize = f.queue
	cfg.Env = f.env
	cfg.Dir = f.dir
	cfg.Logger = log
	return cfg, nil
}

// newLogger returns a logger writing to w, and the level it logs at, which
// a reload may change.
func newLogger(level, format string, w io.Writer) (*slog.Logger, *slog.LevelVar, error) {
	lv, err := parseLevel(level)
	if err != nil {
		return nil, nil, err
	}
	var v slog.LevelVar
	v.Set(lv)
	opts := &slog.HandlerOptions{Level: &v}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), &v, nil
	case "json":
		// Durations as the text format writes them ("5s"), not as
		// nanoseconds: a log is read by people first.
		opts.ReplaceAttr = func(_ []string, a slog.Attr) slog.Attr {
			if a.Value.Kind() == slog.KindDuration {
				a.Value = slog.StringValue(a.Value.Duration().String())
			}
			return a
		}
		return slog.New(slog.NewJSONHandler(w, opts)), &v, nil
	}
	return nil, nil, fmt.Errorf("--log-format %q: want text or json", format)
}

func parseLevel(s string) (slog.Level, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("--log-level %q: want debug, info, warn or error", s)
	}
	return lv, nil
}

// daemonConfig turns the flags into the daemon's configuration; rest is
// what followed "--".
func (f *serveFlags) daemonConfig(rest []string, log *slog.Logger) (authpoold.Config, error) {
	pc, err := f.poolConfig(rest, log)
	if err != nil {
		return authpoold.Config{}, err
	}
	perListener, perPeer, err := f.connLimits()
	if err != nil {
		return authpoold.Config{}, err
	}
	creds, err := f.httpCredentials()
	if err != nil {
		return authpoold.Config{}, err
	}
	tlsFiles, err := f.tls.files()
	if err != nil {
		return authpoold.Config{}, err
	}
	shared, err := f.cluster.shared(f.config)
	if err != nil {
		return authpoold.Config{}, err
	}
	clientTimeout := f.clientTimeout
	if clientTimeout == 0 {
		clientTimeout = -1 // the flag's 0 is "never"; the Config's is "default"
	}
	return authpoold.Config{
		Pool:                  pc,
		Socket:                f.socket,
		SocketMode:            os.FileMode(f.sockMode),
		SocketGroup:           f.sockGroup,
		EjabberdSocket:        f.ejabberdSocket,
		HTTP:                  f.http,
		Metrics:               f.metrics,
		ListenTLS:             f.tls.listen,
		TLS:                   tlsFiles,
		AllowUIDs:             f.allowUIDs.ids,
		AllowGIDs:             f.allowGIDs.ids,
		ClientTimeout:         clientTimeout,
		MaxConnections:        perListener,
		MaxConnectionsPerPeer: perPeer,
		HTTPCredentials:       creds,
		HTTPInsecureNoAuth:    f.httpInsecure,
		CacheTTL:              f.cacheTTL,
		NegativeCacheTTL:      f.negCacheTTL,
		CacheSize:             f.cacheSize,
		ShutdownTimeout:       f.shutdown,
		Penalty:               f.penalty.config(),
		Shared:                shared,
		Logger:                log,
	}, nil
}

// httpCredentials returns how the daemon reads the HTTP API's Basic
// credentials (it does only when it has an HTTP listener), or nil when no
// flag gives them. They must protect something: blank ones are refused,
// never read as "no authentication".
func (f *serveFlags) httpCredentials() (func() (string, error), error) {
	var read func() (string, error)
	from := "--http-credentials"
	switch {
	case f.httpCreds.set && f.httpCredsFile.set:
		return nil, errors.New("give --http-credentials or --http-credentials-file, not both")
	case f.httpCreds.set:
		read = func() (string, error) { return f.httpCreds.v, nil }
	case f.httpCredsFile.set:
		from = "--http-credentials-file"
		read = func() (string, error) {
			if f.httpCredsFile.v == "" {
				return "", errors.New("no file named")
			}
			b, err := readSecretFile(f.httpCredsFile.v)
			return strings.TrimRight(string(b), "\r\n"), err
		}
	default:
		return nil, nil
	}
	return func() (string, error) {
		creds, err := read()
		if err == nil {
			err = server.CheckCredentials(creds)
		}
		if err != nil {
			return "", fmt.Errorf("%s: %w", from, err)
		}
		return creds, nil
	}, nil
}

// readSecretFile reads a file that holds a secret, refusing one every
// user can read: the secret would be no secret.
func readSecretFile(path string) ([]byte, error) { return secretfile.Read(path, 64<<10) }

// connLimits checks --max-connections and --max-connections-per-peer and
// returns them with their defaults applied.
func (f *serveFlags) connLimits() (perListener, perPeer int, err error) {
	perListener, perPeer = f.maxConns, f.maxPerPeer
	if perListener < 0 || perPeer < 0 {
		return 0, 0, errors.New("--max-connections and --max-connections-per-peer cannot be negative")
	}
	if perPeer > perListener {
		return 0, 0, fmt.Errorf("--max-connections-per-peer %d is more than --max-connections %d", perPeer, perListener)
	}
	return perListener, perPeer, nil
}

// setString is a string flag that knows whether it was given, so that
// an empty value given is not read as the flag left out.
type setString struct {
	v   string
	set bool
}

func (s *setString) String() string {
	if s == nil {
		return ""
	}
	return s.v
}

func (s *setString) Set(v string) error { s.v, s.set = v, true; return nil }

// idList is a repeatable, comma-separated list of user or group names or
// numeric ids; lookup resolves names.
type idList struct {
	ids    []uint32
	lookup func(string) (string, error) // name to numeric id
}

func (l *idList) String() string { return fmt.Sprint(l.ids) }

func (l *idList) Set(v string) error {
	for _, name := range strings.Split(v, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		id, err := strconv.ParseUint(name, 10, 32)
		if err != nil && l.lookup != nil {
			var s string
			if s, err = l.lookup(name); err == nil {
				id, err = strconv.ParseUint(s, 10, 32)
			}
		}
		if err != nil {
			return fmt.Errorf("%q: no such user or group", name)
		}
		l.ids = append(l.ids, uint32(id))
	}
	return nil
}

// multiFlag collects a repeatable flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// octalFlag is a file mode written in octal, as chmod takes it.
type octalFlag os.FileMode

func (o *octalFlag) String() string { return fmt.Sprintf("%#o", os.FileMode(*o)) }

func (o *octalFlag) Set(v string) error {
	n, err := strconv.ParseUint(v, 8, 32)
	if err != nil || n > 0o777 {
		return fmt.Errorf("want an octal mode such as 0660")
	}
	*o = octalFlag(n)
	return nil
}
