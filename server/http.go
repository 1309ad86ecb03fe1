package server

import (
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"strings"
	"unicode"

	"github.com/authpool/authpool/framing"
)

// HTTPConfig configures NewHTTPHandler. Pool is required.
type HTTPConfig struct {
	// Pool answers the requests.
	Pool Doer
	// Protocol is what the pool's helpers speak: register and remove_user
	// need the ejabberd protocol, and answer 501 otherwise.
	Protocol framing.Protocol
	// Credentials, "user:password", makes every request need HTTP Basic
	// authentication with them (Prosody's http_auth_credentials). They
	// are required (see CheckCredentials) unless InsecureNoAuth is set.
	Credentials string
	// InsecureNoAuth serves every request without credentials: anyone
	// who can connect can check and set passwords. Never the default;
	// only for a listener nobody else can reach.
	InsecureNoAuth bool
	// Logger receives events; nil discards them. URLs and bodies are never
	// logged: they carry passwords.
	Logger *slog.Logger
}

// maxForm bounds a POST body: the longest request payload and some room
// for field names and percent-encoding.
const maxForm = 4 * framing.MaxPayload

// NewHTTPHandler returns a handler compatible with Prosody's mod_auth_http
// (authentication = "http", http_auth_url pointing at it). The operation is
// the last path segment, so any prefix works:
//
//	GET  .../check_password?user=U&server=S&pass=P[&ip=A]  200 "true" or "false"
//	GET  .../user_exists?user=U&server=S             200 "true" or "false"
//	POST .../set_password   user, server, pass       204, or 403 if refused
//	POST .../register       user, server, pass       201, or 409 if it exists
//	POST .../remove_user    user, server             204, or 404 if refused
//
// Every method takes an optional ip, the address of the XMPP client the
// request is for (mod_auth_http sends none; other callers can), which the
// guessing defence keys its penalties on; one that is not an IP address
// answers 400. POST bodies are form-encoded (Prosody sends a misspelt content type, so
// the type is not checked). A request that cannot be asked answers 400;
// register and remove_user with generic-protocol helpers answer 501. When
// no answer can be had, the status says why, never "false": 504 timeout,
// 503 unavailable or overloaded (with Retry-After), 502 a helper failed.
func NewHTTPHandler(cfg HTTPConfig) (http.Handler, error) {
	if cfg.Pool == nil {
		return nil, errors.New("server: HTTPConfig.Pool is nil")
	}
	switch {
	case cfg.InsecureNoAuth && cfg.Credentials != "":
		return nil, errors.New("server: HTTPConfig has both Credentials and InsecureNoAuth")
	case !cfg.InsecureNoAuth:
		if err := CheckCredentials(cfg.Credentials); err != nil {
			return nil, fmt.Errorf("server: HTTPConfig.Credentials: %w", err)
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &httpHandler{cfg: cfg, log: cfg.Logger}, nil
}

// ErrBadCredentials is wrapped by CheckCredentials' errors.
var ErrBadCredentials = errors.New("HTTP credentials must be USER:PASSWORD, neither blank")

// CheckCredentials refuses HTTP Basic credentials that would protect
// nothing, or not what their writer meant: empty, without the "user:"
// part, a blank user or password, or a control character (such as the
// line end of a second line in a file). Its errors never contain them.
func CheckCredentials(creds string) error {
	user, pass, ok := strings.Cut(creds, ":")
	switch {
	case creds == "":
		return fmt.Errorf("%w: they are empty", ErrBadCredentials)
	case !ok:
		return fmt.Errorf("%w: there is no ':'", ErrBadCredentials)
	case strings.TrimSpace(user) == "":
		return fmt.Errorf("%w: the user is blank", ErrBadCredentials)
	case strings.TrimSpace(pass) == "":
		return fmt.Errorf("%w: the password is blank", ErrBadCredentials)
	case strings.ContainsFunc(creds, unicode.IsControl):
		return fmt.Errorf("%w: they contain a control character or a line end", ErrBadCredentials)
	}
	return nil
}

type httpHandler struct {
	cfg HTTPConfig
	log *slog.Logger
}

// httpOps maps mod_auth_http's methods to helper operations.
var httpOps = map[string]struct {
	op   framing.Op
	verb string
}{
	"check_password": {framing.OpAuth, http.MethodGet},
	"user_exists":    {framing.OpIsUser, http.MethodGet},
	"set_password":   {framing.OpSetPass, http.MethodPost},
	"register":       {framing.OpTryRegister, http.MethodPost},
	"remove_user":    {framing.OpRemoveUser, http.MethodPost},
}

func (h *httpHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if !h.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="authpool"`)
		h.reply(w, http.StatusUnauthorized, "unauthorized")
		return
	}
	method := path.Base(r.URL.Path)
	spec, ok := httpOps[method]
	if !ok {
		h.reply(w, http.StatusNotFound, "unknown method")
		return
	}
	if r.Method != spec.verb {
		w.Header().Set("Allow", spec.verb)
		h.reply(w, http.StatusMethodNotAllowed, "use "+spec.verb)
		return
	}
	if !h.cfg.Protocol.Supports(spec.op) {
		h.reply(w, http.StatusNotImplemented, "the helpers' protocol cannot "+method)
		return
	}
	params, err := h.params(r)
	if err != nil {
		h.reply(w, http.StatusBadRequest, "bad parameters")
		return
	}
	req := framing.Request{Op: spec.op, User: params.Get("user"), Server: params.Get("server")}
	if spec.op.HasPassword() {
		req.Password = params.Get("pass")
	}
	if ip := params.Get("ip"); ip != "" {
		// The XMPP client's address, which the caller knows and the
		// penalties key on; never the HTTP peer's, which is the caller.
		a, err := netip.ParseAddr(ip)
		if err != nil || a.Zone() != "" {
			h.reply(w, http.StatusBadRequest, "ip is not an IP address")
			return
		}
		req.Client = a.Unmap()
	}
	var yes bool
	err = req.Validate() // a pool validates too; this covers any Doer
	if err == nil {
		// In the handler's goroutine: net/http gives each request one.
		yes, err = h.cfg.Pool.Do(r.Context(), req)
	}
	if err != nil {
		status, text := httpError(err)
		if status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "1")
		}
		h.log.Warn("http request failed", "method", method, "request", req, "status", status, "err", err)
		h.reply(w, status, text)
		return
	}
	h.log.Debug("http request answered", "method", method, "request", req, "answer", yes)
	switch spec.op {
	case framing.OpAuth, framing.OpIsUser:
		h.reply(w, http.StatusOK, map[bool]string{true: "true", false: "false"}[yes])
	case framing.OpTryRegister:
		h.replyYesNo(w, yes, http.StatusCreated, http.StatusConflict)
	case framing.OpSetPass:
		h.replyYesNo(w, yes, http.StatusNoContent, http.StatusForbidden)
	default:
		h.replyYesNo(w, yes, http.StatusNoContent, http.StatusNotFound)
	}
}

// authorized checks HTTP Basic credentials in constant time, so response
// timing tells nothing about how much of a guess was right.
func (h *httpHandler) authorized(r *http.Request) bool {
	if h.cfg.InsecureNoAuth {
		return true
	}
	got := ""
	if a := r.Header.Get("Authorization"); len(a) > 6 && strings.EqualFold(a[:6], "basic ") {
		if b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(a[6:])); err == nil {
			got = string(b)
		}
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(h.cfg.Credentials)) == 1
}

// params reads the query (GET) or the form body (POST). Each parameter
// must appear at most once: two "pass" values could be read differently by
// a proxy and by authpool.
func (h *httpHandler) params(r *http.Request) (url.Values, error) {
	// url.Values.Query drops pairs it cannot parse; a request that has
	// them is refused instead, as a malformed body is.
	v, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, err
	}
	if r.Method == http.MethodPost {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxForm+1))
		if err != nil || len(body) > maxForm {
			return nil, errors.New("body too long")
		}
		if v, err = url.ParseQuery(string(body)); err != nil {
			return nil, err
		}
	}
	for _, k := range []string{"user", "server", "pass", "ip"} {
		if len(v[k]) > 1 {
			return nil, errors.New("repeated parameter")
		}
	}
	return v, nil
}

func httpError(err error) (int, string) {
	switch errorKind(err) {
	case framing.KindBadRequest:
		return http.StatusBadRequest, "bad request"
	case framing.KindTimeout:
		return http.StatusGatewayTimeout, "helper timed out"
	case framing.KindUnavailable, framing.KindUntrusted, framing.KindOverloaded, framing.KindClosed:
		return http.StatusServiceUnavailable, "no helper available"
	case framing.KindProtocol, framing.KindExited:
		return http.StatusBadGateway, "helper failed"
	}
	return http.StatusInternalServerError, "internal error"
}

func (h *httpHandler) replyYesNo(w http.ResponseWriter, yes bool, ok, no int) {
	if yes {
		h.reply(w, ok, "")
	} else {
		h.reply(w, no, "false")
	}
}

func (h *httpHandler) reply(w http.ResponseWriter, status int, body string) {
	w.WriteHeader(status)
	if status != http.StatusNoContent && body != "" {
		io.WriteString(w, body)
	}
}
