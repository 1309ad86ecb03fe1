package xmppauth_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/authpool/authpool/pool"
	"github.com/authpool/authpool/result"
	"github.com/authpool/authpool/xmppauth"
)

// A SASL PLAIN step in a Go XMPP server: the Result names what the server
// writes, <success/> or <failure><CONDITION/></failure>.
func Example() {
	p, err := pool.New(pool.Config{Command: []string{"../testscripts/sample.py"}, Timeout: 3 * time.Second})
	if err != nil {
		panic(err)
	}
	login := func(user, password string) {
		// Bound every check: the client waits for an answer.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		res, err := xmppauth.Check(ctx, p, user, "example.com", password)
		if res != xmppauth.Success {
			fmt.Printf("%s: <failure><%s/></failure> (%v)\n", user, res, err)
			return
		}
		fmt.Printf("%s: <success/>\n", user)
	}
	login("alice", "wonderland")
	login("alice", "guess")
	login("bob:x", "builder") // the helper protocol cannot carry it: no account has it

	p.Close()
	login("alice", "wonderland") // no helper to ask: the password is not in question
	// Output:
	// alice: <success/>
	// alice: <failure><not-authorized/></failure> (<nil>)
	// bob:x: <failure><not-authorized/></failure> (bad request: user contains ':')
	// alice: <failure><temporary-auth-failure/></failure> (pool closed)
}

// A server whose hook is func(ctx, user, server, password) (bool, error)
// takes the pool through Hook, and tells "wrong" from "could not check".
func ExampleHook() {
	p, err := pool.New(pool.Config{Command: []string{"../testscripts/sample.py"}})
	if err != nil {
		panic(err)
	}
	var checkPassword xmppauth.Func = xmppauth.Hook(p)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ok, err := checkPassword(ctx, "bob", "example.com", "builder")
	fmt.Println(ok, err)
	ok, err = checkPassword(ctx, "bob", "example.com", "nope")
	fmt.Println(ok, err)

	p.Close() // or a helper that hangs, or one that cannot start
	ok, err = checkPassword(ctx, "bob", "example.com", "builder")
	fmt.Println(ok, errors.Is(err, xmppauth.ErrTemporary), errors.Is(err, result.ErrClosed))
	// Output:
	// true <nil>
	// false <nil>
	// false true true
}
