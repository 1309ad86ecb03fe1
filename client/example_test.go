package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/authpool/authpool/client"
	"github.com/authpool/authpool/pool"
	"github.com/authpool/authpool/server"
)

// startDemoDaemon runs, in this process, what "authpool serve" runs: a pool
// of the sample helper behind the socket server.
func startDemoDaemon(sock string) (stop func()) {
	p, err := pool.New(pool.Config{Command: []string{"../testscripts/sample.py"}})
	if err != nil {
		panic(err)
	}
	l, err := server.ListenUnix(sock, 0o600, -1)
	if err != nil {
		panic(err)
	}
	srv, _ := server.New(server.Config{Pool: p})
	go srv.Serve(l)
	return func() { srv.Close(); p.Close() }
}

func Example() {
	dir, _ := os.MkdirTemp("", "authpool")
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "authpool.sock")
	defer startDemoDaemon(sock)()

	c, err := client.New(client.Config{Socket: sock})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	ok, err := c.Auth(ctx, "alice", "example.com", "wonderland")
	fmt.Println(ok, err)
	_, err = c.Auth(ctx, "al:ice", "example.com", "wonderland")
	fmt.Println(errors.Is(err, client.ErrBadRequest))
	// Output:
	// true <nil>
	// true
}

// Authenticator is what a Go XMPP server needs from authpool. Both an
// embedded *pool.Pool and a *client.Client talking to the daemon satisfy
// it, with the same errors.
type Authenticator interface {
	Auth(ctx context.Context, user, server, password string) (bool, error)
}

var (
	_ Authenticator = (*pool.Pool)(nil)
	_ Authenticator = (*client.Client)(nil)
)

// saslPlain checks a SASL PLAIN initial response (RFC 4616:
// [authzid] NUL authcid NUL passwd) for a login to domain, and returns the
// user to bind the session to.
func saslPlain(ctx context.Context, a Authenticator, domain string, msg []byte) (string, error) {
	parts := bytes.Split(msg, []byte{0})
	if len(parts) != 3 {
		return "", errors.New("malformed PLAIN message")
	}
	authzid, user, pass := string(parts[0]), string(parts[1]), string(parts[2])
	if authzid != "" && authzid != user+"@"+domain {
		return "", errors.New("invalid-authzid")
	}
	ok, err := a.Auth(ctx, user, domain, pass)
	switch {
	case err != nil:
		// Timeouts, outages, refusals: never a login. The XMPP error
		// differs: temporary-auth-failure lets the client retry.
		if errors.Is(err, client.ErrBadRequest) {
			return "", errors.New("malformed-request")
		}
		return "", fmt.Errorf("temporary-auth-failure: %w", err)
	case !ok:
		return "", errors.New("not-authorized")
	}
	return user, nil
}

// A Go XMPP server wiring SASL PLAIN to authpool, here through the daemon.
func Example_saslPlain() {
	dir, _ := os.MkdirTemp("", "authpool")
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "authpool.sock")
	defer startDemoDaemon(sock)()

	c, _ := client.New(client.Config{Socket: sock})
	defer c.Close()
	ctx := context.Background()
	for _, msg := range []string{
		"\x00bob\x00builder",
		"bob@example.com\x00bob\x00builder",
		"\x00bob\x00nope",
		"\x00bob:x\x00builder",
	} {
		user, err := saslPlain(ctx, c, "example.com", []byte(msg))
		fmt.Printf("%q %v\n", user, err)
	}
	// Output:
	// "bob" <nil>
	// "bob" <nil>
	// "" not-authorized
	// "" malformed-request
}
