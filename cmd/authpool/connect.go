package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"syscall"
	"time"

	"github.com/authpool/authpool/client"
	"github.com/authpool/authpool/framing"
)

// connectName is the name under which the authpool binary (a link to it)
// runs connect with no arguments: Prosody's mod_auth_external runs
// external_auth_command as a single file name and cannot pass any.
const connectName = "authpool-connect"

// Defaults of connect's --timeout, which must end before the caller stops
// waiting: an answer written after that is read as the answer to the
// caller's next request.
const (
	// Prosody's external_auth_timeout defaults to 5 s.
	connectTimeoutGeneric = 3 * time.Second
	// ejabberd's extauth waits a fixed 30 s.
	connectTimeoutEjabberd = 20 * time.Second
)

const connectUsage = `usage: authpool connect [flags]
       authpool-connect [flags]

Speak a helper protocol on stdin/stdout and forward each request to a running
authpool daemon: use it as ejabberd's extauth_program or Prosody's
external_auth_command. Every request gets exactly one answer, before
--timeout: no when the daemon cannot answer in time.

Settings come from the flags, then AUTHPOOL_<FLAG> environment variables
(AUTHPOOL_SOCKET, AUTHPOOL_TIMEOUT, ...), then the TOML file named by --config
or AUTHPOOL_CONNECT_CONFIG, else ` + defaultConnectConfig + ` when it exists.

When stdin is a terminal (Prosody runs helpers under a pty) the terminal is
put in raw mode at start, requests already waiting are discarded, logs never
go to it (only to --log-file), and an answer is not written once the caller
has sent its next request.

flags:
`

// defaultConnectConfig is read when it exists and nothing names another.
const defaultConnectConfig = "/etc/authpool/connect.toml"

// connectSettings are connect's flags.
type connectSettings struct {
	config   string
	socket   string
	protocol string
	timeout  time.Duration
	logFile  string
	logLevel string
	ends     endpointFlags
}

func (s *connectSettings) register(fs *flag.FlagSet) {
	fs.StringVar(&s.config, "config", "", "TOML file whose keys are these flags' names (default "+defaultConnectConfig+" when it exists)")
	fs.StringVar(&s.socket, "socket", defaultSocket(), "the daemon's Unix socket")
	fs.StringVar(&s.protocol, "protocol", "generic", "what the XMPP server speaks on stdin/stdout: generic (Prosody) or ejabberd")
	fs.DurationVar(&s.timeout, "timeout", 0, "longest time from reading a request to writing its answer, reaching the daemon included; keep it below the caller's own timeout (0: 3s for generic, below Prosody's 5s external_auth_timeout; 20s for ejabberd, below its fixed 30s)")
	fs.StringVar(&s.logFile, "log-file", "", "append logs to this file; without it logs go to stderr, or nowhere when stderr is a terminal (it is the caller's pty, read as answers)")
	fs.StringVar(&s.logLevel, "log-level", "warn", "debug, info, warn or error")
	s.ends.register(fs)
}

// parseConnectSettings layers flags, environment and config file.
func parseConnectSettings(args []string, usageOut io.Writer) (*connectSettings, error) {
	fs := flag.NewFlagSet("connect", flag.ContinueOnError)
	fs.SetOutput(usageOut)
	s := &connectSettings{}
	s.register(fs)
	fs.Usage = func() {
		fmt.Fprint(usageOut, connectUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err := setFromEnv(fs, "AUTHPOOL_"); err != nil {
		return nil, err
	}
	path, must := s.config, true
	if path == "" {
		path = os.Getenv("AUTHPOOL_CONNECT_CONFIG")
	}
	if path == "" {
		path, must = defaultConnectConfig, false
	}
	if _, err := os.Stat(path); err == nil || must {
		if err := loadConfigFile(path, fs, nil); err != nil {
			return nil, err
		}
	}
	if err := checkNumbers(fs); err != nil {
		return nil, err
	}
	fs.Visit(func(fl *flag.Flag) { s.ends.socketSet = s.ends.socketSet || fl.Name == "socket" })
	return s, nil
}

// connect is a stdio bridge: an XMPP server runs it as its external auth
// program, and it forwards every request to the daemon.
func connect(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if wantsHelp(args) {
		// A person asked, at a terminal: leave it as it is.
		parseConnectSettings([]string{"-h"}, stderr)
		return 0
	}
	// First, before anything can be echoed or read: a caller's pty is made
	// raw and what the caller wrote before that is dropped (see tty.go).
	term, err := takeCallerTerminal(stdin, stdout)
	defer term.restore()
	fail := func(err error) int {
		reportStartError(stderr, term.stderrIsTerminal(stderr), err)
		return 2
	}
	if err != nil {
		return fail(err)
	}
	// Usage and flag errors go to stderr only when it is not the caller's
	// terminal: there, only the one-line error below may appear.
	usageOut := stderr
	if term.stderrIsTerminal(stderr) {
		usageOut = io.Discard
	}
	s, err := parseConnectSettings(args, usageOut)
	if errors.Is(err, flag.ErrHelp) {
		if usageOut == io.Discard {
			return 2
		}
		return 0
	}
	if err != nil {
		return fail(err)
	}
	proto, err := framing.ParseProtocol(s.protocol)
	if err != nil {
		return fail(fmt.Errorf("--protocol: %w", err))
	}
	timeout := s.timeout
	if timeout == 0 {
		timeout = connectTimeoutGeneric
		if proto == framing.Ejabberd {
			timeout = connectTimeoutEjabberd
		}
	}
	logOut, closeLog, err := term.logDestination(s.logFile, stderr)
	if err != nil {
		return fail(err)
	}
	defer closeLog()
	log, _, err := newLogger(s.logLevel, "text", logOut)
	if err != nil {
		return fail(err)
	}
	ccfg, err := s.ends.clientConfig(s.socket, timeout)
	if err != nil {
		return fail(err)
	}
	c, err := client.New(ccfg)
	if err != nil {
		return fail(err)
	}
	defer c.Close()
	if term.raw {
		log.Debug("caller's terminal made raw", "discarded_bytes", term.discarded)
	}

	br := bufio.NewReader(stdin)
	var out []byte
	for {
		payload, err := proto.ReadRequest(br)
		if errors.Is(err, io.EOF) || (term.raw && errors.Is(err, syscall.EIO)) {
			return 0 // the caller closed our stdin (or hung up its pty): it is done with us
		}
		yes := false
		switch {
		case errors.Is(err, framing.ErrBadRequest):
			log.Warn("request refused", "err", err)
		case err != nil:
			log.Error("reading requests failed", "err", err)
			return 1
		default:
			yes = ask(ctx, c, payload, timeout, log)
		}
		if term.superseded(br) {
			// A caller on a pty asks one thing at a time: a new request
			// means it gave up on this one, and would read this answer as
			// the new request's.
			log.Warn("answer not written: the caller sent its next request first (its timeout is shorter than --timeout)")
			continue
		}
		// One write per answer, straight to the caller: nothing is
		// buffered in this process.
		out = proto.AppendAnswer(out[:0], yes)
		if _, err := stdout.Write(out); err != nil {
			log.Error("writing the answer failed", "err", err)
			return 1
		}
	}
}

// wantsHelp reports whether args ask for connect's usage.
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "-h", "-help", "--help":
			return true
		case "--":
			return false
		}
	}
	return false
}

// ask forwards one request, waiting out a daemon restart within timeout,
// which bounds everything from here to the answer.
func ask(ctx context.Context, c *client.Client, payload []byte, timeout time.Duration, log *slog.Logger) bool {
	req, err := framing.ParseRequest(payload)
	if err != nil {
		log.Warn("request refused", "err", err)
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		yes, err := c.Do(ctx, req)
		if err == nil {
			log.Debug("request answered", "request", req, "answer", yes)
			return yes
		}
		if !errors.Is(err, client.ErrConnection) || ctx.Err() != nil {
			log.Warn("request failed", "request", req, "err", err)
			return false
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			log.Warn("request failed: daemon unreachable", "request", req, "err", err)
			return false
		}
	}
}
