package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"golang.org/x/term"

	"github.com/authpool/authpool/framing"
)

const doctorUsage = `usage: authpool doctor [serve's flags] [--user USER@SERVER] [--json] [-- COMMAND ARGS...]

Start a helper exactly as "authpool serve" would (its command, protocol,
transport, environment, directory and timeouts come from serve's flags, or
its --config file, so a serve command line can be checked as it is) and say
in plain words what is wrong with it and how to fix it: it cannot be
executed, exits before answering, answers only under a pty, echoes the
request, writes anything besides its answers, speaks the other protocol,
starts or answers too slowly, writes the password to stderr, ignores
SIGTERM, leaves processes behind, answers yes to a password nobody has.

It asks about a user that cannot exist (authpool-doctor@doctor.invalid),
with a random password. With --user, it also asks that user's password,
read from stdin (prompted without echo on a terminal; otherwise the first
line), which must get yes, a wrong one, which must get no, and isuser,
which must get yes. No password is ever shown.

Every check has a deadline; the helper and what it started are gone when
doctor exits. Exit status: 0 when the helper is fit to serve (warnings may
remain), 1 when it is not, 2 on a usage error or when interrupted.

flags (serve's flags that do not concern the helper are accepted and unused):
`

// newDoctorSecret makes the passwords doctor sends on its own: the canary
// and the wrong password for --user. Random, and letters and digits only,
// so every escaped form of it a script may print holds it as it is. Tests
// replace it to find these passwords in any output.
var newDoctorSecret = func() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func doctor(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := &serveFlags{}
	f.register(fs)
	user := fs.String("user", "", "also check this user's password (read from stdin, never from the command line): USER@SERVER")
	asJSON := fs.Bool("json", false, "write the report as JSON on stdout")
	fs.Usage = func() {
		fmt.Fprint(stderr, doctorUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	usage := func(err error) int {
		fmt.Fprintf(stderr, "authpool doctor: %v\n", err)
		return 2
	}
	if err := f.cluster.checkCommandLine(); err != nil {
		return usage(err)
	}
	if f.config != "" {
		if err := loadConfigFile(f.config, fs, &f.commandArgs); err != nil {
			return usage(err)
		}
	}
	if err := checkNumbers(fs); err != nil {
		return usage(err)
	}
	cfg, err := f.poolConfig(fs.Args(), nil)
	if err != nil {
		return usage(err)
	}
	dc := doctorConfig{pool: cfg, canary: newDoctorSecret()}
	if *user != "" {
		u, s, ok := strings.Cut(*user, "@")
		if !ok || u == "" || s == "" {
			return usage(fmt.Errorf("--user %q: want USER@SERVER", *user))
		}
		pw, err := readPasswordLine(stdin, stderr)
		if err != nil {
			return usage(fmt.Errorf("reading the password: %w", err))
		}
		if pw == "" {
			return usage(errors.New("an empty password: give the password of --user on stdin"))
		}
		req := framing.Request{Op: framing.OpAuth, User: u, Server: s, Password: pw}
		if err := req.Validate(); err != nil {
			return usage(fmt.Errorf("--user: %w", err))
		}
		dc.user, dc.server, dc.password = u, s, pw
		for dc.wrong = newDoctorSecret(); dc.wrong == pw; dc.wrong = newDoctorSecret() {
		}
	}

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, doctorBudget(dc))
	defer cancel()
	rep := diagnose(ctx, dc)
	if err := ctx.Err(); err != nil {
		fmt.Fprintf(stderr, "authpool doctor: the checks did not finish: %v\n", context.Cause(ctx))
		return 2
	}
	if *asJSON {
		if err := rep.writeJSON(stdout); err != nil {
			return usage(err)
		}
	} else {
		rep.writeText(stdout)
	}
	if !rep.Fit {
		return 1
	}
	return 0
}

// readPasswordLine reads a password: prompted without echo when stdin is a
// terminal, else the first line of stdin (its line end removed).
func readPasswordLine(stdin io.Reader, stderr io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return readPassword(stdin, stderr)
	}
	r := bufio.NewReader(io.LimitReader(stdin, framing.MaxPayload+1))
	line, err := r.ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	if !strings.HasSuffix(line, "\n") && len(line) > framing.MaxPayload {
		return "", errors.New("longer than any request can carry")
	}
	line = strings.TrimSuffix(line, "\n")
	return strings.TrimSuffix(line, "\r"), nil
}
