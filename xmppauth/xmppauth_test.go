package xmppauth

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/authpool/authpool/client"
	"github.com/authpool/authpool/pool"
	"github.com/authpool/authpool/result"
)

// Both ways of reaching helpers are Checkers.
var (
	_ Checker = (*pool.Pool)(nil)
	_ Checker = (*client.Client)(nil)
)

var errOther = errors.New("something nobody planned for")

var results = []struct {
	name string
	ok   bool
	err  error
	want Result
}{
	{"yes", true, nil, Success},
	{"no", false, nil, NotAuthorized},
	{"bad request", false, fmt.Errorf("%w: user contains ':'", result.ErrBadRequest), NotAuthorized},
	{"timeout", false, result.ErrTimeout, TemporaryAuthFailure},
	{"wrapped timeout", false, fmt.Errorf("%w waiting for a free helper", result.ErrTimeout), TemporaryAuthFailure},
	{"unavailable", false, result.ErrUnavailable, TemporaryAuthFailure},
	{"overloaded", false, result.ErrOverloaded, TemporaryAuthFailure},
	{"helper exited", false, result.ErrHelperExited, TemporaryAuthFailure},
	{"protocol", false, result.ErrProtocol, TemporaryAuthFailure},
	{"closed", false, result.ErrClosed, TemporaryAuthFailure},
	{"daemon closing", false, client.ErrDaemonClosing, TemporaryAuthFailure},
	{"daemon unreachable", false, client.ErrConnection, TemporaryAuthFailure},
	{"deadline", false, context.DeadlineExceeded, TemporaryAuthFailure},
	{"canceled", false, context.Canceled, TemporaryAuthFailure},
	{"unknown error", false, errOther, TemporaryAuthFailure},
	// A yes that comes with an error is not a yes.
	{"yes with an error", true, errOther, TemporaryAuthFailure},
	{"yes with a bad request", true, result.ErrBadRequest, NotAuthorized},
}

func TestResultOf(t *testing.T) {
	for _, tt := range results {
		if got := ResultOf(tt.ok, tt.err); got != tt.want {
			t.Errorf("%s: ResultOf(%v, %v) = %v, want %v", tt.name, tt.ok, tt.err, got, tt.want)
		}
	}
}

func TestZeroResultRefuses(t *testing.T) {
	var r Result
	if r == Success || r.String() != "temporary-auth-failure" {
		t.Errorf("zero Result is %v", r)
	}
}

func TestResultString(t *testing.T) {
	for r, want := range map[Result]string{
		Success:              "success",
		NotAuthorized:        "not-authorized",
		TemporaryAuthFailure: "temporary-auth-failure",
		Result(9):            "Result(9)",
	} {
		if got := r.String(); got != want {
			t.Errorf("%d: %q, want %q", r, got, want)
		}
	}
}

// fakeChecker answers what it is told and records what it was asked.
type fakeChecker struct {
	ok   bool
	err  error
	args []string
	ctx  context.Context
}

func (f *fakeChecker) Auth(ctx context.Context, user, server, password string) (bool, error) {
	f.ctx, f.args = ctx, []string{user, server, password}
	return f.ok, f.err
}

type ctxKey struct{}

func TestCheck(t *testing.T) {
	for _, tt := range results {
		f := &fakeChecker{ok: tt.ok, err: tt.err}
		ctx := context.WithValue(context.Background(), ctxKey{}, tt.name)
		res, err := Check(ctx, f, "alice", "example.com", "wonderland")
		if res != tt.want || err != tt.err {
			t.Errorf("%s: Check = %v, %v; want %v, %v", tt.name, res, err, tt.want, tt.err)
		}
		if fmt.Sprint(f.args) != "[alice example.com wonderland]" || f.ctx.Value(ctxKey{}) != tt.name {
			t.Errorf("%s: asked %q under another context", tt.name, f.args)
		}
	}
}

func TestHook(t *testing.T) {
	for _, tt := range results {
		f := &fakeChecker{ok: tt.ok, err: tt.err}
		ok, err := Hook(f)(context.Background(), "alice", "example.com", "wonderland")
		switch tt.want {
		case Success:
			if !ok || err != nil {
				t.Errorf("%s: Hook = %v, %v; want true, nil", tt.name, ok, err)
			}
		case NotAuthorized:
			if ok || err != nil {
				t.Errorf("%s: Hook = %v, %v; want false, nil", tt.name, ok, err)
			}
		case TemporaryAuthFailure:
			if ok || !errors.Is(err, ErrTemporary) || !errors.Is(err, tt.err) {
				t.Errorf("%s: Hook = %v, %v; want false and an error wrapping ErrTemporary and %v", tt.name, ok, err, tt.err)
			}
		}
	}
}
