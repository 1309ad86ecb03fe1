package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/authpool/authpool/framing"
	"github.com/authpool/authpool/result"
)

// fzPool is a Doer that records what reaches it and answers with a fixed
// outcome, at once.
type fzPool struct {
	outcome fzOutcome
	seen    []framing.Request
}

type fzOutcome struct {
	submitErr error         // a refusal: the pool fails at once with this
	res       result.Result // or the result is this
	status    int           // what docs/PROTOCOL.md makes of it (yes/no: 0)
}

func (p *fzPool) Do(_ context.Context, req framing.Request) (bool, error) {
	p.seen = append(p.seen, req)
	if p.outcome.submitErr != nil {
		return false, p.outcome.submitErr
	}
	return p.outcome.res.OK, p.outcome.res.Err
}

// fzOutcomes are what a pool can answer, by fuzzed index, and the status
// docs/PROTOCOL.md gives each failure.
var fzOutcomes = [16]fzOutcome{
	{res: result.Result{OK: true}},
	{res: result.Result{OK: false}},
	{res: result.Result{Err: fmt.Errorf("helper 3: %w", result.ErrTimeout)}, status: 504},
	{res: result.Result{Err: result.ErrUnavailable}, status: 503},
	{res: result.Result{Err: result.ErrOverloaded}, status: 503},
	{res: result.Result{Err: result.ErrClosed}, status: 503},
	{res: result.Result{Err: fmt.Errorf("%w: junk", framing.ErrProtocol)}, status: 502},
	{res: result.Result{Err: result.ErrHelperExited}, status: 502},
	{res: result.Result{Err: fmt.Errorf("%w: empty password", framing.ErrBadRequest)}, status: 400},
	{res: result.Result{Err: context.DeadlineExceeded}, status: 504},
	{res: result.Result{Err: context.Canceled}, status: 503},
	{submitErr: result.ErrOverloaded, status: 503},
	{submitErr: result.ErrClosed, status: 503},
	{submitErr: fmt.Errorf("%w: the generic protocol has no tryregister", framing.ErrBadRequest), status: 400},
	{res: result.Result{OK: true, Err: result.ErrTimeout}, status: 504}, // an error is never a yes
	// Not a failure a pool gives: docs/PROTOCOL.md has no status for it.
	{res: result.Result{Err: errors.New("something else")}, status: 500},
}

// fzHTTPOps is docs/PROTOCOL.md's table of methods: verb, operation, and
// the statuses of yes and no.
var fzHTTPOps = map[string]struct {
	verb    string
	op      framing.Op
	yes, no int
}{
	"check_password": {http.MethodGet, framing.OpAuth, 200, 200},
	"user_exists":    {http.MethodGet, framing.OpIsUser, 200, 200},
	"set_password":   {http.MethodPost, framing.OpSetPass, 204, 403},
	"register":       {http.MethodPost, framing.OpTryRegister, 201, 409},
	"remove_user":    {http.MethodPost, framing.OpRemoveUser, 204, 404},
}

var fzVerbs = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodHead,
	http.MethodDelete, http.MethodOptions, "get", ""}

const fzCreds = "prosody:s3cret"

// fzHTTPRun is one request to the handler, and everything it did.
type fzHTTPRun struct {
	status int
	body   string
	header http.Header
	log    string
	seen   []framing.Request
}

// fzServe runs one request through a new handler.
func fzServe(t *testing.T, cfg HTTPConfig, outcome fzOutcome, verb, target, query, body, auth string) fzHTTPRun {
	t.Helper()
	fake := &fzPool{outcome: outcome}
	var log bytes.Buffer
	cfg.Pool = fake
	cfg.InsecureNoAuth = cfg.Credentials == ""
	cfg.Logger = slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	h, err := NewHTTPHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Method = verb
	r.URL = &url.URL{Path: target, RawQuery: query}
	r.RequestURI = ""
	r.Body = io.NopCloser(strings.NewReader(body))
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return fzHTTPRun{w.Code, w.Body.String(), w.Header(), log.String(), fake.seen}
}

// FuzzHTTPHandler sends the mod_auth_http handler a fuzzed request (verb,
// path, query, body, Basic credentials; user, server and pass fields
// added to the query and the body, or not) with a fake pool that answers
// with a fuzzed outcome, and checks against docs/PROTOCOL.md:
//   - the status is the one the HTTP section gives: 401 for credentials
//     that do not match, 404 unknown method, 405 wrong verb (with Allow),
//     501 what generic helpers cannot express, 400 malformed or repeated
//     parameters or a refused request, and for what was asked the yes/no
//     status of the method or the failure's status (503 with
//     Retry-After); 500 only for an error no pool returns;
//   - 200 "true" only when the pool said yes without error; a failure is
//     never "false";
//   - the pool sees at most one request, exactly the one the parameters
//     give, and only a request that Validates;
//   - every response is text/plain and no-store;
//   - nothing the handler does depends on the password's bytes: with every
//     byte of pass changed but line ends and NULs, status, headers, body
//     and log are the same, and the log never contains the password.
func FuzzHTTPHandler(f *testing.F) {
	f.Add(uint8(0), "/auth/check_password", "", "", "alice", "example.com", "wonderland", uint8(0), "", uint16(0))
	f.Add(uint8(0), "/check_password", "", "", "alice", "example.com", "wonderland", uint8(0x42), "", uint16(0))
	f.Add(uint8(0), "/check_password", "user=a&server=b&pass=c", "", "", "", "", uint8(0x02), "", uint16(0))
	f.Add(uint8(0), "/check_password", "user=a&server=b&pass=c&%zz", "", "", "", "", uint8(0x00), "", uint16(0))
	f.Add(uint8(0), "/check_password", "user=a&server=b&pass=c;d", "", "", "", "", uint8(0x00), "", uint16(0))
	f.Add(uint8(0), "/x/user_exists/", "", "", "al:ice", "example.com", "", uint8(0x40), "", uint16(0))
	f.Add(uint8(0), "/user_exists", "pass=x", "", "alice", "example.com", "", uint8(0x40), "", uint16(0))
	f.Add(uint8(1), "/prefix/x/set_password", "", "user=alice&server=example.com", "", "", "new\x03\x04\x13\x1a\x7f", uint8(0x40), "", uint16(0))
	f.Add(uint8(1), "/set_password", "", "user=alice&server=example.com&pass=%0a", "", "", "", uint8(0x02), "", uint16(0))
	f.Add(uint8(1), "/set_password", "", "user=a&server=b&pass=%zz", "", "", "", uint8(0x00), "", uint16(0))
	f.Add(uint8(1), "/register", "", "", "bob", "example.com", "builder", uint8(0x41), "", uint16(0))
	f.Add(uint8(1), "/register", "", "", "bob", "example.com", "builder", uint8(0x40), "", uint16(0))
	f.Add(uint8(1), "/remove_user", "", "", "bob", "example.com", "", uint8(0x43), "", uint16(0))
	f.Add(uint8(0), "/set_password", "", "", "alice", "example.com", "pw", uint8(0x40), "", uint16(0))
	f.Add(uint8(0), "/frobnicate", "", "", "alice", "example.com", "pw", uint8(0x40), "", uint16(0))
	f.Add(uint8(0), "", "", "", "", "", "", uint8(0), "", uint16(0))
	f.Add(uint8(0), "/check_password", "", "", "alice", "example.com", "wonderland", uint8(0x60), "good", uint16(0))
	f.Add(uint8(0), "/check_password", "", "", "alice", "example.com", "wonderland", uint8(0x60), "basic "+base64.StdEncoding.EncodeToString([]byte(fzCreds)), uint16(0))
	f.Add(uint8(0), "/check_password", "", "", "alice", "example.com", "wonderland", uint8(0x60), "Basic "+base64.StdEncoding.EncodeToString([]byte("prosody:s3cre")), uint16(0))
	f.Add(uint8(0), "/check_password", "", "", "alice", "example.com", "wonderland", uint8(0x60), "Basic !!!", uint16(0))
	f.Add(uint8(0), "/check_password", "pass=again", "", "alice", "example.com", "wonderland", uint8(0x40), "", uint16(0))
	f.Add(uint8(0), "/check_password", "", "", "alice", "example.com", "\xff\xfe\x00", uint8(0x40), "", uint16(0))
	f.Add(uint8(0), "/check_password", "", "", "alice", "example.com", "sec\r\nret", uint8(0x40), "", uint16(0))
	f.Add(uint8(0), "/check_password", "", "", "alice", "example.com", "p", uint8(0x40), "", uint16(framing.MaxPayload-len("auth:alice:example.com:")-1))
	f.Add(uint8(0), "/check_password", "", "", "alice", "example.com", "p", uint8(0x40), "", uint16(framing.MaxPayload-len("auth:alice:example.com:")))
	for i := range fzOutcomes {
		f.Add(uint8(0), "/check_password", "", "", "alice", "example.com", "wonderland", uint8(0x40|i<<1), "", uint16(0))
		f.Add(uint8(1), "/set_password", "", "", "alice", "example.com", "wonderland", uint8(0x41|i<<1), "", uint16(0))
	}
	f.Fuzz(func(t *testing.T, verbIdx uint8, target, query, body, user, server, pass string, flags uint8, auth string, pad uint16) {
		// pad repeats the password's last byte, for long passwords
		// without long inputs.
		if pad > 0 && pass != "" {
			pass += strings.Repeat(pass[len(pass)-1:], int(pad))
		}
		cfg := HTTPConfig{Protocol: framing.Generic}
		if flags&1 != 0 {
			cfg.Protocol = framing.Ejabberd
		}
		outcome := fzOutcomes[flags>>1&15]
		if flags&0x20 != 0 {
			cfg.Credentials = fzCreds
			if auth == "good" {
				auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(fzCreds))
			}
		}
		verb := fzVerbs[int(verbIdx)%len(fzVerbs)]
		fields := flags&0x40 != 0
		withFields := func(s, pass string) string {
			if !fields {
				return s
			}
			return s + "&user=" + url.QueryEscape(user) + "&server=" + url.QueryEscape(server) + "&pass=" + url.QueryEscape(pass)
		}
		run := fzServe(t, cfg, outcome, verb, target, withFields(query, pass), withFields(body, pass), auth)
		fzCheckHTTP(t, cfg, outcome, verb, target, withFields(query, pass), withFields(body, pass), auth, run)

		// The same request with every byte of the password changed.
		if !fields || pass == "" {
			return
		}
		masked := fzMaskString(pass)
		if len(withFields(body, pass)) > maxForm || len(withFields(body, masked)) > maxForm {
			return // the escaped passwords' lengths differ
		}
		again := fzServe(t, cfg, outcome, verb, target, withFields(query, masked), withFields(body, masked), auth)
		if again.status != run.status || again.body != run.body || again.log != run.log ||
			fmt.Sprint(again.header) != fmt.Sprint(run.header) || len(again.seen) != len(run.seen) {
			t.Fatalf("the response depends on the password:\n%+v\nwith it changed:\n%+v", run, again)
		}
		if len(pass) >= 4 && strings.Contains(run.log, pass) && !strings.Contains(again.log, pass) {
			t.Fatalf("password logged: %s", run.log)
		}
	})
}

// fzMaskString changes every byte of s but line ends and NULs.
func fzMaskString(s string) string {
	return string(fzMaskPassword([]byte(":::" + s))[3:])
}

// fzCheckHTTP checks one run against docs/PROTOCOL.md.
func fzCheckHTTP(t *testing.T, cfg HTTPConfig, outcome fzOutcome, verb, target, query, body, auth string, run fzHTTPRun) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%s %q ?%q body %q auth %q (%s, credentials %q, pool %+v):\n%d %q %v seen %v\n%s",
			verb, target, query, body, auth, cfg.Protocol, cfg.Credentials, outcome,
			run.status, run.body, run.header, run.seen, fmt.Sprintf(format, args...))
	}
	if run.header.Get("Content-Type") != "text/plain; charset=utf-8" || run.header.Get("Cache-Control") != "no-store" {
		fail("headers")
	}
	if (run.status == 503) != (run.header.Get("Retry-After") != "") {
		fail("Retry-After only, and always, with 503")
	}
	if run.status == 401 && run.header.Get("WWW-Authenticate") == "" {
		fail("401 without WWW-Authenticate")
	}
	if len(run.seen) > 1 {
		fail("%d requests reached the pool", len(run.seen))
	}
	for _, req := range run.seen {
		if err := req.Validate(); err != nil {
			fail("a request that does not Validate reached the pool: %v", err)
		}
	}
	if run.status == 200 && run.body == "true" {
		if len(run.seen) != 1 || outcome.submitErr != nil || !outcome.res.OK || outcome.res.Err != nil {
			fail("true, but the pool did not say yes")
		}
	}

	// The status docs/PROTOCOL.md gives.
	want, wantBody, asked := fzHTTPModel(cfg, outcome, verb, target, query, body, auth)
	if run.status != want {
		fail("status %d, want %d", run.status, want)
	}
	if wantBody != "" && run.body != wantBody || wantBody == "" && (run.body == "true" || run.body == "false") {
		fail("body %q, want %q", run.body, wantBody)
	}
	if run.status == 405 && run.header.Get("Allow") == "" {
		fail("405 without Allow")
	}
	if asked == nil && len(run.seen) != 0 || asked != nil && (len(run.seen) != 1 || run.seen[0] != *asked) {
		fail("the pool should have seen %v", asked)
	}
}

// fzHTTPModel returns the status and body docs/PROTOCOL.md gives a
// request ("" for a body it does not give), and the request the pool must
// be asked, if any.
func fzHTTPModel(cfg HTTPConfig, outcome fzOutcome, verb, target, query, body, auth string) (int, string, *framing.Request) {
	if cfg.Credentials != "" {
		ok := false
		if len(auth) > 6 && strings.EqualFold(auth[:6], "basic ") {
			got, err := base64.StdEncoding.DecodeString(strings.TrimSpace(auth[6:]))
			ok = err == nil && string(got) == cfg.Credentials
		}
		if !ok {
			return 401, "", nil
		}
	}
	seg := strings.TrimRight(target, "/")
	seg = seg[strings.LastIndexByte(seg, '/')+1:]
	spec, ok := fzHTTPOps[seg]
	switch {
	case !ok:
		return 404, "", nil
	case verb != spec.verb:
		return 405, "", nil
	case !cfg.Protocol.Supports(spec.op):
		return 501, "", nil
	}
	// GET takes the query, POST the body; a malformed pair in either is
	// refused (TestHTTPMalformedQueryRefused), in the query even for POST.
	params, err := url.ParseQuery(query)
	if err != nil {
		return 400, "", nil
	}
	if verb == http.MethodPost {
		var err error
		if params, err = url.ParseQuery(body); err != nil || len(body) > maxForm {
			return 400, "", nil
		}
	}
	for _, k := range []string{"user", "server", "pass"} {
		if len(params[k]) > 1 {
			return 400, "", nil
		}
	}
	req := framing.Request{Op: spec.op, User: params.Get("user"), Server: params.Get("server")}
	if spec.op.HasPassword() {
		req.Password = params.Get("pass")
	}
	if req.Validate() != nil {
		return 400, "", nil
	}
	switch {
	case outcome.status != 0:
		return outcome.status, "", &req
	case outcome.res.OK && spec.yes == 200:
		return 200, "true", &req
	case outcome.res.OK:
		return spec.yes, "", &req
	case spec.no == 200:
		return 200, "false", &req
	}
	return spec.no, "false", &req
}

// TestHTTPMalformedQueryRefused: docs/PROTOCOL.md answers 400 to a
// request whose parameters are malformed, and the handler does so for a
// POST body, but a GET query's malformed pairs (a bad %-escape, a ';')
// are silently dropped and the rest is asked.
func TestHTTPMalformedQueryRefused(t *testing.T) {
	for _, q := range []string{
		"user=alice&server=example.com&pass=wonderland&%zz",
		"user=alice&server=example.com&pass=wonderland;x",
		"user=alice&server=example.com&pass=wonderland&pass;=x",
	} {
		for _, verb := range []string{http.MethodGet, http.MethodPost} {
			target, query, body := "/auth/check_password", q, ""
			if verb == http.MethodPost {
				target, query, body = "/auth/set_password", "", q
			}
			run := fzServe(t, HTTPConfig{}, fzOutcomes[0], verb, target, query, body, "")
			if run.status != 400 || len(run.seen) != 0 {
				t.Errorf("%s %q: %d %q, pool asked %v; want 400", verb, q, run.status, run.body, run.seen)
			}
		}
	}
}
