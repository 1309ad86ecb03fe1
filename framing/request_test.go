package framing

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
)

func TestParseRequest(t *testing.T) {
	long := strings.Repeat("p", 8<<10)
	tests := []struct {
		in      string
		want    Request
		wantErr string // substring; empty means success
	}{
		{in: "auth:alice:example.com:secret", want: Request{Op: OpAuth, User: "alice", Server: "example.com", Password: "secret"}},
		{in: "auth:alice:example.com:a:b:c", want: Request{Op: OpAuth, User: "alice", Server: "example.com", Password: "a:b:c"}},
		{in: "auth:alice:example.com:", want: Request{Op: OpAuth, User: "alice", Server: "example.com", Password: ""}},
		{in: "auth:alice:example.com:\x03\x04\x13\x1a\x7f\xff", want: Request{Op: OpAuth, User: "alice", Server: "example.com", Password: "\x03\x04\x13\x1a\x7f\xff"}},
		{in: "auth:alice:example.com:" + long, want: Request{Op: OpAuth, User: "alice", Server: "example.com", Password: long}},
		{in: "isuser:bob:example.com", want: Request{Op: OpIsUser, User: "bob", Server: "example.com", Password: ""}},
		{in: "setpass:bob:example.com:new", want: Request{Op: OpSetPass, User: "bob", Server: "example.com", Password: "new"}},
		{in: "tryregister:bob:example.com:pw", want: Request{Op: OpTryRegister, User: "bob", Server: "example.com", Password: "pw"}},
		{in: "removeuser:bob:example.com", want: Request{Op: OpRemoveUser, User: "bob", Server: "example.com", Password: ""}},
		{in: "removeuser3:bob:example.com:pw", want: Request{Op: OpRemoveUser3, User: "bob", Server: "example.com", Password: "pw"}},
		{in: "", wantErr: "no ':'"},
		{in: "auth", wantErr: "no ':'"},
		{in: "login:alice:example.com:pw", wantErr: "unknown operation"},
		{in: "AUTH:alice:example.com:pw", wantErr: "unknown operation"},
		{in: "auth:alice", wantErr: "needs a user and a server"},
		{in: "auth:alice:example.com", wantErr: "needs a password"},
		{in: "isuser:bob:example.com:pw", wantErr: "takes no password"},
		{in: "auth::example.com:pw", wantErr: "empty user"},
		{in: "auth:alice::pw", wantErr: "empty server"},
		{in: "isuser:bob:", wantErr: "empty server"},
		{in: "auth:al\x00ice:example.com:pw", wantErr: "user contains a NUL"},
		{in: "auth:alice:exa\rmple.com:pw", wantErr: "server contains a carriage return"},
		{in: "auth:alice:example.com:p\nw", wantErr: "password contains a line feed"},
		{in: "auth:alice:example.com:p\x00w", wantErr: "password contains a NUL"},
		{in: "auth:alice:example.com:" + strings.Repeat("x", MaxPayload), wantErr: "over the limit"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%.40q", tt.in), func(t *testing.T) {
			got, err := ParseRequest([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("ParseRequest = %v, want error containing %q", got, tt.wantErr)
				}
				if !errors.Is(err, ErrBadRequest) {
					t.Errorf("error %v does not wrap ErrBadRequest", err)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %q does not contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseRequest: %v", err)
			}
			if got != tt.want {
				t.Fatalf("ParseRequest = %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestValidateRejects(t *testing.T) {
	tests := []struct {
		name string
		r    Request
	}{
		{"zero", Request{}},
		{"unknown op", Request{Op: 99, User: "a", Server: "b"}},
		{"colon in user", Request{Op: OpAuth, User: "a:b", Server: "example.com", Password: "pw"}},
		{"colon in server", Request{Op: OpIsUser, User: "a", Server: "example.com:5222", Password: ""}},
		{"password on isuser", Request{Op: OpIsUser, User: "a", Server: "b", Password: "pw"}},
		{"too long", Request{Op: OpAuth, User: "a", Server: "b", Password: strings.Repeat("x", MaxPayload)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.r.Validate(); !errors.Is(err, ErrBadRequest) {
				t.Fatalf("Validate = %v, want ErrBadRequest", err)
			}
		})
	}
}

// TestPasswordNeverPrinted covers every way a Request can reach a log line
// or an error string.
func TestPasswordNeverPrinted(t *testing.T) {
	const secret = "s3cr3t-Pa55"
	r := Request{Op: OpAuth, User: "alice", Server: "example.com", Password: secret, Client: netip.MustParseAddr("2001:db8::7")}
	var logBuf strings.Builder
	slog.New(slog.NewTextHandler(&logBuf, nil)).Info("req", "request", r)
	slog.New(slog.NewJSONHandler(&logBuf, nil)).Info("req", "request", r)
	outputs := []string{
		r.String(), fmt.Sprint(r), fmt.Sprintf("%v %+v %#v %s %q %x", r, r, r, r, r, r),
		fmt.Sprintf("%v", &r), fmt.Sprintf("%+v", []Request{r}), logBuf.String(),
	}
	for _, bad := range []string{
		"auth:alice:example.com:" + secret + "\x00",
		"auth:alice:example.com:" + secret + "\n",
		"auth:alice:example.com:" + secret + strings.Repeat("x", MaxPayload),
		secret + ":alice:example.com:x",
		secret,
	} {
		if _, err := ParseRequest([]byte(bad)); err != nil {
			outputs = append(outputs, err.Error())
		} else {
			t.Errorf("ParseRequest(%.20q...) accepted a bad request", bad)
		}
	}
	for _, out := range outputs {
		if strings.Contains(out, secret) {
			t.Errorf("password leaked into %q", out)
		}
	}
	if !strings.Contains(logBuf.String(), "alice") || !strings.Contains(logBuf.String(), "2001:db8::7") {
		t.Errorf("log lost the user or the client: %s", logBuf.String())
	}
}

// TestClientNeverSent: the client address is for authpool alone; no
// helper encoder puts it on a helper's wire (the native one, a caller's,
// carries it in its from= token: TestNativeFrom).
func TestClientNeverSent(t *testing.T) {
	bare := Request{Op: OpAuth, User: "alice", Server: "example.com", Password: "pw"}
	with := bare
	with.Client = netip.MustParseAddr("192.0.2.1")
	for _, p := range []Protocol{Generic, Ejabberd} {
		a, errA := p.AppendRequest(nil, bare)
		b, errB := p.AppendRequest(nil, with)
		if errA != nil || errB != nil || string(a) != string(b) {
			t.Errorf("%v: %q, %v with a client; %q, %v without", p, b, errB, a, errA)
		}
	}
}
