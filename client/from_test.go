package client

import (
	"context"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/authpool/authpool/framing"
	"github.com/authpool/authpool/server"
)

// fromDoer answers yes exactly when the request carries the address want.
type fromDoer struct{ want netip.Addr }

func (d fromDoer) Do(_ context.Context, req framing.Request) (bool, error) {
	return req.Client == d.want, nil
}

// TestAuthFrom: AuthFrom carries the client's address to the daemon; Auth
// and an invalid address carry none.
func TestAuthFrom(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.sock")
	want := netip.MustParseAddr("2001:db8::7")
	l, err := server.ListenUnix(path, 0o600, -1)
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := server.New(server.Config{Pool: fromDoer{want}})
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() { srv.Close(); <-done })
	c := newClient(t, path)
	ctx := context.Background()
	for _, tc := range []struct {
		addr netip.Addr
		yes  bool
	}{
		{want, true},
		{netip.MustParseAddr("192.0.2.1"), false},
		{netip.Addr{}, false},
	} {
		if yes, err := c.AuthFrom(ctx, "alice", "example.com", "pw", tc.addr); err != nil || yes != tc.yes {
			t.Errorf("AuthFrom(%v) = %v, %v; want %v", tc.addr, yes, err, tc.yes)
		}
	}
	if yes, err := c.Auth(ctx, "alice", "example.com", "pw"); err != nil || yes {
		t.Errorf("Auth = %v, %v; want no address, so no", yes, err)
	}
}
