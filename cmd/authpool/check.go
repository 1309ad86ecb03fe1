package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

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
prompted for without echo. Exit status: 0 yes, 1 no, 2 error.

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
	line, err := framing.Generic.AppendRequest(nil, req)
	if err != nil {
		return fail("%v", err)
	}

	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", *socket)
	if err != nil {
		return fail("is the daemon running? %v", err)
	}
	defer c.Close()
	deadline, _ := ctx.Deadline()
	c.SetDeadline(deadline)
	if _, err := c.Write(line); err != nil {
		return fail("sending: %v", err)
	}
	answer, err := bufio.NewReader(c).ReadString('\n')
	switch {
	case err != nil:
		return fail("no answer: %v", err)
	case answer == "1\n":
		fmt.Fprintln(stdout, "yes")
		return 0
	case answer == "0\n":
		fmt.Fprintln(stdout, "no")
		return 1
	}
	return fail("unexpected answer %q", strings.TrimSpace(answer))
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
