package pool_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/authpool/authpool/pool"
)

func Example() {
	p, err := pool.New(pool.Config{
		Command:   []string{"../testscripts/sample.py"}, // demo users built in
		Processes: 2,
		Timeout:   5 * time.Second,
	})
	if err != nil {
		panic(err)
	}
	defer p.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, pw := range []string{"wonderland", "guess"} {
		ok, err := p.Auth(ctx, "alice", "example.com", pw)
		fmt.Println(ok, err)
	}
	exists, err := p.IsUser(ctx, "nobody", "example.com")
	fmt.Println(exists, err)
	// Output:
	// true <nil>
	// false <nil>
	// false <nil>
}

// A server wires a login to the pool; errors say why no answer came, and
// every one of them means "do not log in".
func ExamplePool_Auth() {
	p, err := pool.New(pool.Config{Command: []string{"../testscripts/sample.py"}})
	if err != nil {
		panic(err)
	}
	defer p.Close()

	login := func(ctx context.Context, user, domain, password string) bool {
		ok, err := p.Auth(ctx, user, domain, password)
		switch {
		case err == nil:
			return ok
		case errors.Is(err, pool.ErrBadRequest):
			fmt.Println("refused:", err)
		default:
			fmt.Println("no answer:", err)
		}
		return false
	}
	fmt.Println(login(context.Background(), "bob", "example.com", "builder"))
	fmt.Println(login(context.Background(), "bob:evil", "example.com", "builder"))
	// Output:
	// true
	// refused: bad request: user contains ':'
	// false
}
