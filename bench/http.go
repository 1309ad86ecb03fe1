package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/authpool/authpool/framing"
)

// HTTPTarget talks to an HTTP API compatible with Prosody's mod_auth_http:
//
//	GET  PREFIX/check_password?user=U&server=S&pass=P   200, body "true" or "false"
//	GET  PREFIX/user_exists?user=U&server=S             200, body "true" or "false"
//	POST PREFIX/set_password  (form: user, server, pass) 200, 201 or 204 when done
//
// Any other status is an error, except that set_password answered with a
// 4xx status is a no.
type HTTPTarget struct {
	prefix     string
	client     *http.Client
	user, pass string // HTTP Basic credentials; none when user is ""
}

// SetBasicAuth makes every request carry HTTP Basic credentials, as the
// daemon's HTTP API requires.
func (t *HTTPTarget) SetBasicAuth(user, pass string) { t.user, t.pass = user, pass }

type httpStatusError struct{ code int }

func (e *httpStatusError) Error() string { return fmt.Sprintf("HTTP status %d", e.code) }

// NewHTTP returns a target for the API under prefix (for example
// "http://127.0.0.1:5280/auth"), keeping up to conns connections open.
// timeout bounds each request (zero: 30s).
func NewHTTP(prefix string, conns int, timeout time.Duration) (*HTTPTarget, error) {
	u, err := url.Parse(prefix)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--http %q: want an http:// or https:// URL", prefix)
	}
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = max(conns, 2)
	tr.MaxIdleConnsPerHost = max(conns, 2)
	return &HTTPTarget{
		prefix: strings.TrimSuffix(prefix, "/"),
		client: &http.Client{Transport: tr, Timeout: timeout},
	}, nil
}

// Do makes the request's HTTP call.
func (t *HTTPTarget) Do(ctx context.Context, _ int, req framing.Request) (bool, error) {
	var hr *http.Request
	var err error
	switch req.Op {
	case framing.OpAuth:
		q := url.Values{"user": {req.User}, "server": {req.Server}, "pass": {req.Password}}
		hr, err = http.NewRequestWithContext(ctx, http.MethodGet, t.prefix+"/check_password?"+q.Encode(), nil)
	case framing.OpIsUser:
		q := url.Values{"user": {req.User}, "server": {req.Server}}
		hr, err = http.NewRequestWithContext(ctx, http.MethodGet, t.prefix+"/user_exists?"+q.Encode(), nil)
	case framing.OpSetPass:
		form := url.Values{"user": {req.User}, "server": {req.Server}, "pass": {req.Password}}
		hr, err = http.NewRequestWithContext(ctx, http.MethodPost, t.prefix+"/set_password", strings.NewReader(form.Encode()))
		if hr != nil {
			hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	default:
		return false, fmt.Errorf("%w: the HTTP API has no %s", framing.ErrBadRequest, req.Op)
	}
	if err != nil {
		return false, err
	}
	if t.user != "" {
		hr.SetBasicAuth(t.user, t.pass)
	}
	resp, err := t.client.Do(hr)
	if err != nil {
		// The URL holds the password: never let it into an error.
		var ne interface{ Timeout() bool }
		if errors.As(err, &ne) && ne.Timeout() {
			return false, fmt.Errorf("%w: %s", context.DeadlineExceeded, req.Op)
		}
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		return false, fmt.Errorf("%w: %s %s", errConnection, hr.Method, req.Op)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64))
	resp.Body.Close()
	if err != nil {
		return false, fmt.Errorf("%w: reading the response to %s", errConnection, req.Op)
	}
	if req.Op == framing.OpSetPass {
		switch {
		case resp.StatusCode == 200 || resp.StatusCode == 201 || resp.StatusCode == 204:
			return true, nil
		case resp.StatusCode >= 400 && resp.StatusCode < 500:
			return false, nil
		}
		return false, &httpStatusError{resp.StatusCode}
	}
	if resp.StatusCode != http.StatusOK {
		return false, &httpStatusError{resp.StatusCode}
	}
	switch strings.TrimSpace(string(body)) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, errBadAnswer
}

// Close closes idle connections.
func (t *HTTPTarget) Close() error {
	t.client.CloseIdleConnections()
	return nil
}
