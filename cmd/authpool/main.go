// Command authpool runs external XMPP auth helpers under supervision and
// serves them on a Unix socket; see README.md.
//
//	authpool serve [flags] [-- COMMAND ARGS...]
//	authpool check [flags] auth|isuser|setpass USER SERVER
//	authpool connect [flags]       (or a link named authpool-connect, no arguments needed)
//	authpool status [flags]
//	authpool bench [flags] [-- COMMAND ARGS...]
//	authpool doctor [flags] [-- COMMAND ARGS...]
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
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
  authpool doctor [flags] [-- COMMAND ARGS...]  say what is wrong with a helper, and how to fix it
  authpool connect [flags]                      bridge a helper protocol on stdio to the daemon
  authpool status [flags]                       a running daemon's helpers, queue and totals
  authpool help [COMMAND]                       this, or a command's description and flags
  authpool version                              the version and the source revision built

Run "authpool help COMMAND" (or "authpool COMMAND -h") for a command's flags.
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
	case "doctor":
		return doctor(ctx, args[1:], stdin, stdout, stderr)
	case "help", "-h", "-help", "--help":
		if len(args) > 1 && args[0] == "help" {
			if _, ok := commands[args[1]]; ok {
				// The command's own -h, on stdout: asked for, not an error.
				return run(ctx, []string{args[1], "-h"}, stdin, stdout, stdout)
			}
			fmt.Fprintf(stderr, "authpool help: unknown command %q\n\n%s", args[1], usage)
			return 2
		}
		fmt.Fprint(stdout, usage)
		return 0
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, version())
		return 0
	}
	fmt.Fprintf(stderr, "authpool: unknown command %q\n\n%s", args[0], usage)
	return 2
}

// commands are the subcommands help knows.
var commands = map[string]bool{"serve": true, "check": true, "bench": true, "connect": true, "status": true, "doctor": true}

// version is the module's version and the VCS revision it was built from,
// as the Go toolchain records them in the binary.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "authpool (no build information)"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, when, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			when = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = " with uncommitted changes"
			}
		}
	}
	out := "authpool " + v
	if rev != "" {
		out += fmt.Sprintf(", revision %s%s", rev, dirty)
		if when != "" {
			out += " of " + when
		}
	}
	return out + ", " + bi.GoVersion
}

// defaultSocket is $XDG_RUNTIME_DIR/authpool.sock, else ./authpool.sock.
func defaultSocket() string {
	if dir := os.Getenv("XDG_RUNTIME_DIR"); dir != "" {
		return dir + "/authpool.sock"
	}
	return "authpool.sock"
}
