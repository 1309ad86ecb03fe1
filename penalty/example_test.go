package penalty_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"time"

	"github.com/authpool/authpool/framing"
	"github.com/authpool/authpool/penalty"
)

// helper stands for the pool: alice's password is wonderland.
type helper struct{}

func (helper) Do(_ context.Context, req framing.Request) (bool, error) {
	return req.User == "alice" && req.Password == "wonderland", nil
}

// A Guard in front of the helpers, logging as the daemon does (without the
// time, to keep the output stable), with penalties short enough for an
// example. The first guess is answered at once and raises the penalties;
// the same wrong password again waits them out but raises nothing; the
// right password from another address waits at most UserMax.
func Example() {
	log := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	g, err := penalty.New(penalty.Config{
		Next:    helper{},
		Logger:  log,
		Base:    20 * time.Millisecond,
		Max:     300 * time.Millisecond,
		UserMax: 20 * time.Millisecond,
	})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	req := framing.Request{Op: framing.OpAuth, User: "alice", Server: "example.com",
		Password: "guess", Client: netip.MustParseAddr("192.0.2.7")}
	fmt.Println(g.Do(ctx, req))
	fmt.Println(g.Do(ctx, req))

	req.Password, req.Client = "wonderland", netip.MustParseAddr("198.51.100.1")
	fmt.Println(g.Do(ctx, req))

	s := g.Stats()
	fmt.Printf("failures %d, repeats %d, delayed %d, keys %d\n", s.Failures, s.Repeats, s.Delayed, s.Keys)
	// Output:
	// level=WARN msg="auth failed from 192.0.2.7" op=auth user=alice server=example.com addr=192.0.2.7 reason=wrong-password
	// false <nil>
	// level=WARN msg="auth failed" op=auth user=alice server=example.com addr=192.0.2.7 reason=repeated-password
	// false <nil>
	// true <nil>
	// failures 2, repeats 1, delayed 2, keys 3
}
