// Command authpool runs external XMPP auth helpers under supervision and
// serves them on a Unix socket; see README.md.
//
//	authpool serve [flags] [-- COMMAND ARGS...]
//	authpool check [flags] auth|isuser|setpass USER SERVER
//	authpool connect [flags]       (or a link named authpool-connect, no arguments needed)
//	authpool status [flags]
//	authpool bench [flags] [-- COMMAND ARGS...]
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

func main() {
	args := os.Args[1:]
	if filepath.Base(os.Args[0]) == connectName {
		// Callers that cannot pass arguments run a link by this name.
		args = append([]string{"connect"}, args...)
	}
	if err := hardenProcess(); err != nil {
		if len(args) > 0 && args[0] == "connect" {
			// stderr may be the caller's pty: one line, never an answer.
			reportStartError(os.Stderr, (&callerTerminal{}).stderrIsTerminal(os.Stderr), err)
			os.Exit(2)
		}
		fmt.Fprintf(os.Stderr, "authpool: %v\n", err)
		os.Exit(1)
	}
	os.Exit(run(context.Background(), args, os.Stdin, os.Stdout, os.Stderr))
}

const usage = `usage:
  authpool serve [flags] [-- COMMAND ARGS...]   run helpers and serve them on a socket
  authpool check [flags] OP USER SERVER         ask a running daemon (password on stdin)
  authpool bench [flags] [-- COMMAND ARGS...]   load-test a helper, a daemon or an HTTP API
  authpool connect [flags]                      bridge a helper protocol on stdio to the daemon
  authpool status [flags]                       a running daemon's helpers, queue and totals

Run "authpool serve -h" or "authpool check -h" for the flags.
`

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stderr)
	case "check":
		return check(ctx, args[1:], stdin, stdout, stderr)
	case "bench":
		return benchCmd(ctx, args[1:], stdout, stderr)
	case "connect":
		return connect(ctx, args[1:], stdin, stdout, stderr)
	case "status":
		return status(ctx, args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "authpool: unknown command %q\n\n%s", args[0], usage)
	return 2
}

// defaultSocket is $XDG_RUNTIME_DIR/authpool.sock, else ./authpool.sock.
func defaultSocket() string {
	if dir := os.Getenv("XDG_RUNTIME_DIR"); dir != "" {
		return dir + "/authpool.sock"
	}
	return "authpool.sock"
}
