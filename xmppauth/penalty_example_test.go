package xmppauth_test

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/authpool/authpool/framing"
	"github.com/authpool/authpool/penalty"
	"github.com/authpool/authpool/pool"
	"github.com/authpool/authpool/xmppauth"
)

// An XMPP server that embeds the pool puts a penalty.Guard in front of it
// and gives each login its client's address: a guess waits out the
// penalties of the guesser's address and of the user, and a penalty that
// outlasts the login's deadline is a temporary-auth-failure, never a
// verdict on the password. The penalties are short for the example.
func Example_penalty() {
	p, err := pool.New(pool.Config{Command: []string{"../testscripts/sample.py"}, Timeout: 3 * time.Second})
	if err != nil {
		panic(err)
	}
	defer p.Close()
	g, err := penalty.New(penalty.Config{Next: p, Base: time.Second, Max: 2 * time.Second, UserMax: 50 * time.Millisecond})
	if err != nil {
		panic(err)
	}
	login := func(from, password string, patience time.Duration) {
		ctx, cancel := context.WithTimeout(context.Background(), patience)
		defer cancel()
		ok, err := g.Do(ctx, framing.Request{Op: framing.OpAuth, User: "alice", Server: "example.com",
			Password: password, Client: netip.MustParseAddr(from)})
		fmt.Printf("from %s: %v\n", from, xmppauth.ResultOf(ok, err))
	}
	login("192.0.2.7", "guess", 5*time.Second)              // answered, and penalised
	login("192.0.2.7", "guess-again", 100*time.Millisecond) // the penalty (1s) outlasts the deadline
	login("198.51.100.1", "wonderland", 5*time.Second)      // a clean address waits UserMax at most
	// Output:
	// from 192.0.2.7: not-authorized
	// from 192.0.2.7: temporary-auth-failure
	// from 198.51.100.1: success
}
