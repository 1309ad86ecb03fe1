package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/authpool/authpool/client"
	"github.com/authpool/authpool/framing"
)

// connect is a stdio bridge: an XMPP server runs it as its external auth
// program, and it forwards every request to the daemon.
func connect(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("connect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	socket := fs.String("socket", defaultSocket(), "the daemon's Unix socket")
	protoName := fs.String("protocol", "generic", "what the XMPP server speaks on stdin/stdout: generic (Prosody) or ejabberd")
	timeout := fs.Duration("timeout", 10*time.Second, "longest time for one answer, waiting for the daemon to come back included; then the answer is no")
	logLevel := fs.String("log-level", "warn", "debug, info, warn or error (to stderr, which the XMPP server logs)")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: authpool connect [flags]

Speak a helper protocol on stdin/stdout and forward each request to a running
authpool daemon: use it as ejabberd's extauth_program or Prosody's
external_auth_command. Answers no when the daemon cannot answer in time.

flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	proto, err := framing.ParseProtocol(*protoName)
	if err != nil {
		fmt.Fprintf(stderr, "authpool connect: --protocol: %v\n", err)
		return 2
	}
	log, _, err := newLogger(*logLevel, "text", stderr)
	if err != nil {
		fmt.Fprintf(stderr, "authpool connect: %v\n", err)
		return 2
	}
	c, err := client.New(client.Config{Socket: *socket, DialTimeout: time.Second})
	if err != nil {
		fmt.Fprintf(stderr, "authpool connect: %v\n", err)
		return 2
	}
	defer c.Close()

	br := bufio.NewReader(stdin)
	var out []byte
	for {
		payload, err := proto.ReadRequest(br)
		if errors.Is(err, io.EOF) {
			return 0 // the XMPP server closed our stdin: it is done with us
		}
		yes := false
		switch {
		case errors.Is(err, framing.ErrBadRequest):
			log.Warn("request refused", "err", err)
		case err != nil:
			log.Error("reading requests failed", "err", err)
			return 1
		default:
			yes = ask(ctx, c, payload, *timeout, log)
		}
		// One write per answer, straight to the pipe: nothing is buffered
		// in this process.
		out = proto.AppendAnswer(out[:0], yes)
		if _, err := stdout.Write(out); err != nil {
			log.Error("writing the answer failed", "err", err)
			return 1
		}
	}
}

// ask forwards one request, waiting out a daemon restart within timeout.
func ask(ctx context.Context, c *client.Client, payload []byte, timeout time.Duration, log interface {
	Warn(string, ...any)
	Debug(string, ...any)
}) bool {
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
