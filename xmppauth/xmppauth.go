package xmppauth

import (
	"context"
	"errors"
	"fmt"

	"github.com/authpool/authpool/result"
)

// Checker checks a password. *pool.Pool and *client.Client are Checkers.
type Checker interface {
	Auth(ctx context.Context, user, server, password string) (bool, error)
}

// Result is how a SASL exchange ends: the name of the element or failure
// condition of RFC 6120 §6.4.6 and §6.5 that the server sends.
type Result uint8

const (
	// TemporaryAuthFailure: the credentials could not be checked (RFC 6120
	// §6.5.12). It is the zero Result, so a Result never set refuses.
	TemporaryAuthFailure Result = iota
	// NotAuthorized: the credentials are wrong (RFC 6120 §6.5.10).
	NotAuthorized
	// Success: the credentials are right.
	Success
)

// String returns the XML element name the server sends for r:
// "temporary-auth-failure", "not-authorized" or "success".
func (r Result) String() string {
	switch r {
	case TemporaryAuthFailure:
		return "temporary-auth-failure"
	case NotAuthorized:
		return "not-authorized"
	case Success:
		return "success"
	}
	return fmt.Sprintf("Result(%d)", uint8(r))
}

// ResultOf maps the answer (ok, err) of an Auth call to a Result; see the
// package documentation for the table.
func ResultOf(ok bool, err error) Result {
	switch {
	case errors.Is(err, result.ErrBadRequest):
		return NotAuthorized
	case err != nil:
		return TemporaryAuthFailure
	case ok:
		return Success
	}
	return NotAuthorized
}

// Check asks c whether password is user@server's and returns the Result,
// with the error that explains a failure (for the server's log; nil for a
// plain yes or no). ctx bounds the whole check, the wait for a free helper
// included: give it a deadline shorter than the client's patience.
func Check(ctx context.Context, c Checker, user, server, password string) (Result, error) {
	ok, err := c.Auth(ctx, user, server, password)
	return ResultOf(ok, err), err
}

// ErrTemporary is wrapped by every error a Func from Hook returns.
var ErrTemporary = errors.New("credentials could not be checked")

// Func is the hook shape of many servers: (true, nil) logs in, (false, nil)
// means wrong credentials, and an error means they could not be checked.
type Func func(ctx context.Context, user, server, password string) (bool, error)

// Hook adapts c to Func with the package's mapping: a NotAuthorized result
// is (false, nil), even when c said why (ErrBadRequest), and a
// TemporaryAuthFailure is (false, err) with errors.Is(err, ErrTemporary) and
// errors.Is(err, the cause), so a server can tell the client to retry.
func Hook(c Checker) Func {
	return func(ctx context.Context, user, server, password string) (bool, error) {
		switch res, err := Check(ctx, c, user, server, password); res {
		case Success:
			return true, nil
		case NotAuthorized:
			return false, nil
		default: // ResultOf gives TemporaryAuthFailure only with an error
			return false, fmt.Errorf("%w: %w", ErrTemporary, err)
		}
	}
}
