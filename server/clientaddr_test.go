package server

import (
	"bufio"
	"context"
	"fmt"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/authpool/authpool/framing"
	"github.com/authpool/authpool/penalty"
)

// addrRecorder answers yes and keeps the client address of each request,
// by user.
type addrRecorder struct {
	mu   sync.Mutex
	seen map[string]netip.Addr
}

func (r *addrRecorder) Do(_ context.Context, req framing.Request) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen == nil {
		r.seen = map[string]netip.Addr{}
	}
	r.seen[req.User] = req.Client
	return true, nil
}

func (r *addrRecorder) addr(user string) (netip.Addr, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a, ok := r.seen[user]
	return a, ok
}

// TestNativeClientAddress: a native line's from= token reaches the Doer as
// Request.Client, never the socket's peer; a line without one carries no
// address; a bad one is refused alone and the connection goes on; a
// generic line starting with from= is not a request.
func TestNativeClientAddress(t *testing.T) {
	rec := &addrRecorder{}
	_, path := serveWith(t, Config{Pool: rec}, (*Server).Serve)
	c := dial(t, path)
	br := bufio.NewReader(c)
	for _, tc := range []struct {
		line, user, want, answer string
	}{
		{"1 from=192.0.2.7 auth:v4:x:p", "v4", "192.0.2.7", "1 1"},
		{"2 from=2001:db8::9 isuser:v6:x", "v6", "2001:db8::9", "2 1"},
		{"3 from=::ffff:198.51.100.1 auth:mapped:x:p", "mapped", "198.51.100.1", "3 1"},
		{"4 auth:none:x:p", "none", "invalid IP", "4 1"},
		{"5 from=not-an-ip auth:bad:x:p", "", "", "5 error badrequest"},
		{"6 from=192.0.2.7", "", "", "6 error badrequest"},
		{"from=192.0.2.7 auth:generic:x:p", "", "", "0"},
		{"7 auth:after:x:p", "after", "invalid IP", "7 1"},
	} {
		fmt.Fprintf(c, "%s\n", tc.line)
		got := readLines(t, br, 1)[0]
		if !strings.HasPrefix(got, tc.answer) {
			t.Errorf("%q: answer %q, want %q", tc.line, got, tc.answer)
		}
		if tc.user == "" {
			continue
		}
		if a, ok := rec.addr(tc.user); !ok || a.String() != tc.want {
			t.Errorf("%q: client %v (asked: %v), want %s", tc.line, a, ok, tc.want)
		}
	}
	if _, ok := rec.addr("bad"); ok {
		t.Error("a request with a bad from= reached the pool")
	}
}

// TestHTTPClientAddress: the HTTP API's ip parameter reaches the Doer as
// Request.Client; the HTTP peer's address never does; a bad or repeated
// ip is 400 and reaches nothing.
func TestHTTPClientAddress(t *testing.T) {
	rec := &addrRecorder{}
	h, err := NewHTTPHandler(HTTPConfig{Pool: rec, Protocol: framing.Ejabberd, InsecureNoAuth: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		method, target, body, user, want string
		status                           int
	}{
		{"GET", "/check_password?user=a&server=x&pass=p&ip=192.0.2.7", "", "a", "192.0.2.7", 200},
		{"GET", "/check_password?user=b&server=x&pass=p", "", "b", "invalid IP", 200},
		{"GET", "/user_exists?user=c&server=x&ip=2001:db8::1", "", "c", "2001:db8::1", 200},
		{"POST", "/set_password", "user=d&server=x&pass=p&ip=198.51.100.2", "d", "198.51.100.2", 204},
		{"GET", "/check_password?user=e&server=x&pass=p&ip=example.com", "", "", "", 400},
		{"GET", "/check_password?user=f&server=x&pass=p&ip=192.0.2.1&ip=192.0.2.2", "", "", "", 400},
		{"GET", "/check_password?user=g&server=x&pass=p&ip=fe80::1%25eth0", "", "", "", 400},
	} {
		r := httptest.NewRequest(tc.method, tc.target, strings.NewReader(tc.body))
		r.RemoteAddr = "203.0.113.99:4242" // the caller's, never the client's
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tc.status {
			t.Errorf("%s %s: status %d, want %d", tc.method, tc.target, w.Code, tc.status)
		}
		if tc.user == "" {
			continue
		}
		if a, ok := rec.addr(tc.user); !ok || a.String() != tc.want {
			t.Errorf("%s %s: client %v (asked: %v), want %s", tc.method, tc.target, a, ok, tc.want)
		}
	}
	for _, u := range []string{"e", "f", "g"} {
		if _, ok := rec.addr(u); ok {
			t.Errorf("user %s: a request with a bad ip reached the pool", u)
		}
	}
}

// errDoer fails every request with err.
type errDoer struct{ err error }

func (d errDoer) Do(context.Context, framing.Request) (bool, error) { return false, d.err }

// TestPenaltyErrorsAreTemporary: a check the guessing defence ended
// (its penalty outlasted the deadline, or its line was full) is a
// temporary failure wherever the protocol can say so, never "no":
// native timeout or overloaded, HTTP 504 or 503; generic lines and
// ejabberd frames have only 0.
func TestPenaltyErrorsAreTemporary(t *testing.T) {
	for _, tc := range []struct {
		err    error
		native string
		status int
	}{
		{penalty.ErrPenalised, "1 error timeout", 504},
		{penalty.ErrBusy, "1 error overloaded", 503},
		{fmt.Errorf("penalty: waiting for earlier attempts: %w", context.DeadlineExceeded), "1 error timeout", 504},
	} {
		_, path := serveWith(t, Config{Pool: errDoer{tc.err}}, (*Server).Serve)
		c := dial(t, path)
		br := bufio.NewReader(c)
		fmt.Fprint(c, "1 from=192.0.2.7 auth:a:x:p\nauth:a:x:p\n")
		got := readLines(t, br, 2)
		if !strings.HasPrefix(got[0], "1 ") {
			got[0], got[1] = got[1], got[0] // a native answer comes when ready
		}
		if !strings.HasPrefix(got[0], tc.native) || got[1] != "0" {
			t.Errorf("%v: native %q, generic %q; want %q and 0", tc.err, got[0], got[1], tc.native)
		}
		h, _ := NewHTTPHandler(HTTPConfig{Pool: errDoer{tc.err}, InsecureNoAuth: true})
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/check_password?user=a&server=x&pass=p&ip=192.0.2.7", nil))
		if w.Code != tc.status {
			t.Errorf("%v: HTTP %d, want %d", tc.err, w.Code, tc.status)
		}
	}
}
