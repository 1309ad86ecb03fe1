package server

import (
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/authpool/authpool/framing"
)

func TestHTTPHandler(t *testing.T) {
	f := newFake(0)
	ejab, err := NewHTTPHandler(HTTPConfig{Pool: f, Protocol: framing.Ejabberd, InsecureNoAuth: true})
	if err != nil {
		t.Fatal(err)
	}
	generic, _ := NewHTTPHandler(HTTPConfig{Pool: f, Protocol: framing.Generic, InsecureNoAuth: true})
	get := func(method string, q url.Values) *http.Request {
		return httptest.NewRequest(http.MethodGet, "/auth/"+method+"?"+q.Encode(), nil)
	}
	post := func(method string, q url.Values) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/prefix/x/"+method, strings.NewReader(q.Encode()))
		r.Header.Set("Content-Type", "application/x/www-form-urlencoded") // as Prosody spells it
		return r
	}
	form := func(kv ...string) url.Values {
		v := url.Values{}
		for i := 0; i < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		return v
	}
	tests := []struct {
		name   string
		h      http.Handler
		req    *http.Request
		status int
		body   string
	}{
		{"check yes", ejab, get("check_password", form("user", "ab", "server", "x", "pass", "ba")), 200, "true"},
		{"check no", ejab, get("check_password", form("user", "ab", "server", "x", "pass", "no")), 200, "false"},
		{"check colon password", ejab, get("check_password", form("user", "a:b", "server", "x", "pass", "b:a")), 400, ""},
		{"check empty password", ejab, get("check_password", form("user", "ab", "server", "x", "pass", "")), 200, "false"},
		{"check missing user", ejab, get("check_password", form("server", "x", "pass", "p")), 400, ""},
		{"exists", ejab, get("user_exists", form("user", "ab", "server", "x")), 200, "false"},
		{"set_password yes", ejab, post("set_password", form("user", "ab", "server", "x", "pass", "ba")), 204, ""},
		{"set_password no", ejab, post("set_password", form("user", "ab", "server", "x", "pass", "zz")), 403, "false"},
		{"register", ejab, post("register", form("user", "ab", "server", "x", "pass", "ba")), 201, ""},
		{"register exists", ejab, post("register", form("user", "ab", "server", "x", "pass", "zz")), 409, "false"},
		{"remove_user", ejab, post("remove_user", form("user", "ab", "server", "x")), 404, "false"},
		{"register generic", generic, post("register", form("user", "ab", "server", "x", "pass", "ba")), 501, ""},
		{"remove_user generic", generic, post("remove_user", form("user", "ab", "server", "x")), 501, ""},
		{"wrong verb", ejab, get("set_password", form("user", "ab", "server", "x", "pass", "ba")), 405, ""},
		{"unknown method", ejab, get("frobnicate", nil), 404, ""},
		{"repeated pass", ejab, get("check_password", form("user", "ab", "server", "x", "pass", "ba", "pass", "no")), 400, ""},
		{"timeout", ejab, get("check_password", form("user", "timeout", "server", "x", "pass", "p")), 504, ""},
		{"unavailable", ejab, get("check_password", form("user", "unavailable", "server", "x", "pass", "p")), 503, ""},
		{"untrusted", ejab, get("check_password", form("user", "untrusted", "server", "x", "pass", "p")), 503, ""},
		{"overloaded", ejab, get("check_password", form("user", "overload", "server", "x", "pass", "p")), 503, ""},
		{"helper failed", ejab, get("check_password", form("user", "protocol", "server", "x", "pass", "p")), 502, ""},
		{"helper exited", ejab, get("check_password", form("user", "exited", "server", "x", "pass", "p")), 502, ""},
		{"internal", ejab, get("check_password", form("user", "weird", "server", "x", "pass", "p")), 500, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			tt.h.ServeHTTP(w, tt.req)
			body, _ := io.ReadAll(w.Body)
			if w.Code != tt.status || (tt.body != "" && string(body) != tt.body) {
				t.Fatalf("%d %q, want %d %q", w.Code, body, tt.status, tt.body)
			}
			if w.Code == 503 && w.Header().Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
		})
	}
}

func TestHTTPBasicAuth(t *testing.T) {
	f := newFake(0)
	h, err := NewHTTPHandler(HTTPConfig{Pool: f, Credentials: "prosody:s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		auth   string
		status int
	}{
		{"", 401},
		{"Basic " + base64.StdEncoding.EncodeToString([]byte("prosody:wrong")), 401},
		{"Basic " + base64.StdEncoding.EncodeToString([]byte("prosody:s3cre")), 401},
		{"Basic !!!", 401},
		{"Bearer x", 401},
		{"Basic " + base64.StdEncoding.EncodeToString([]byte("prosody:s3cret")), 200},
		{"basic " + base64.StdEncoding.EncodeToString([]byte("prosody:s3cret")), 200},
	} {
		r := httptest.NewRequest(http.MethodGet, "/user_exists?user=ab&server=x", nil)
		if tt.auth != "" {
			r.Header.Set("Authorization", tt.auth)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tt.status {
			t.Errorf("Authorization %q: %d, want %d", tt.auth, w.Code, tt.status)
		}
		if w.Code == 401 && w.Header().Get("WWW-Authenticate") == "" {
			t.Error("401 without WWW-Authenticate")
		}
	}
}

// TestHTTPCredentialsRequired is findings 1 and 2 of issue 10 at the
// library's level: no credentials, or credentials that protect nothing,
// were an API open to anyone who could connect.
func TestHTTPCredentialsRequired(t *testing.T) {
	f := newFake(0)
	for _, tt := range []struct {
		name  string
		cfg   HTTPConfig
		valid bool
	}{
		{"none", HTTPConfig{}, false},
		{"no colon", HTTPConfig{Credentials: "nocolon"}, false},
		{"no user", HTTPConfig{Credentials: ":s3cret"}, false},
		{"blank user", HTTPConfig{Credentials: " \t:s3cret"}, false},
		{"no password", HTTPConfig{Credentials: "prosody:"}, false},
		{"blank password", HTTPConfig{Credentials: "prosody:  "}, false},
		{"only a colon", HTTPConfig{Credentials: ":"}, false},
		{"two lines", HTTPConfig{Credentials: "prosody:s3cret\nother:x"}, false},
		{"NUL", HTTPConfig{Credentials: "prosody:s3\x00cret"}, false},
		{"both", HTTPConfig{Credentials: "prosody:s3cret", InsecureNoAuth: true}, false},
		{"credentials", HTTPConfig{Credentials: "prosody:s3cret"}, true},
		{"colon in password", HTTPConfig{Credentials: "prosody:s3:cret"}, true},
		{"spaces inside", HTTPConfig{Credentials: "pro sody:s3 cret"}, true},
		{"insecure, asked for", HTTPConfig{InsecureNoAuth: true}, true},
	} {
		tt.cfg.Pool = f
		_, err := NewHTTPHandler(tt.cfg)
		if (err == nil) != tt.valid {
			t.Errorf("%s: %v", tt.name, err)
		}
		if err != nil && strings.Contains(err.Error(), "s3") {
			t.Errorf("%s: the error shows the credentials: %v", tt.name, err)
		}
	}
}
