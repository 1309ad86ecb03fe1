package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/authpool/authpool/client"
	"github.com/authpool/authpool/framing"
)

func check(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	socket := fs.String("socket", defaultSocket(), "the daemon's Unix socket")
	timeout := fs.Duration("timeout", 30*time.Second, "longest wait for the answer")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: authpool check [flags] auth|isuser|setpass USER SERVER

Ask a running daemon. The password (auth, setpass) is read from stdin, never
from the command line, where other users could see it; on a terminal it is
prompted for without echo. Exit status: 0 yes, 1 no, 2 when it could not be
checked (the daemon unreachable, a helper timeout, no helper available,
overload: the reason is printed, never a "no") or on a usage error.

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
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "authpool check: "+format+"\n", a...)
		return 2
	}
	if err := checkNumbers(fs); err != nil {
		return fail("%v", err)
	}
	if fs.NArg() != 3 {
		fs.Usage()
		return 2
	}
	op, err := framing.ParseOp(fs.Arg(0))
	if err != nil || !framing.Generic.Supports(op) {
		return fail("operation %q: want auth, isuser or setpass", fs.Arg(0))
	}
	req := framing.Request{Op: op, User: fs.Arg(1), Server: fs.Arg(2)}
	if op.HasPassword() {
		if req.Password, err = readPassword(stdin, stderr); err != nil {
			return fail("reading the password: %v", err)
		}
	}
	if err := req.Validate(); err != nil {
		return fail("%v", err)
	}

	// The native protocol, so that "could not check" (timeout, no helper,
	// overload) is an error with its reason, never a "no".
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	c, err := client.New(client.Config{Socket: *socket})
	if err != nil {
		return fail("%v", err)
	}
	defer c.Close()
	yes, err := c.Do(ctx, req)
	switch {
	case errors.Is(err, client.ErrConnection):
		return fail("is the daemon running? %v", err)
	case err != nil:
		return fail("could not check: %v", err)
	case yes:
		fmt.Fprintln(stdout, "yes")
		return 0
	}
	fmt.Fprintln(stdout, "no")
	return 1
}

// readPassword reads one line from stdin, prompting without echo when stdin
// is a terminal. Only the line end is removed: spaces are part of a
// password.
func readPassword(stdin io.Reader, stderr io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, "Password: ")
		pw, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		return string(pw), err
	}
	b, err := io.ReadAll(io.LimitReader(stdin, framing.MaxPayload+1))
	if err != nil {
		return "", err
	}
	s := string(b)
	s = strings.TrimSuffix(s, "\n")
	s = strings.TrimSuffix(s, "\r")
	return s, nil
}
