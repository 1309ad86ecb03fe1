package penalty

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/authpool/authpool/framing"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// helper is a fake Next: it knows users' passwords, takes latency to
// answer, and records every request it answers.
type helper struct {
	latency   time.Duration
	passwords map[string]string // user → password

	mu      sync.Mutex
	answers []answer
}

type answer struct {
	at     time.Time
	req    framing.Request
	ok     bool
	client netip.Addr
}

func newHelper(latency time.Duration) *helper {
	return &helper{latency: latency, passwords: map[string]string{
		"alice": "wonderland", "bob": "builder", "carol": "singer",
	}}
}

func (h *helper) Do(ctx context.Context, req framing.Request) (bool, error) {
	if h.latency > 0 {
		t := time.NewTimer(h.latency)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return false, ctx.Err()
		}
	} else if err := ctx.Err(); err != nil {
		return false, err
	}
	pw, exists := h.passwords[req.User]
	ok := false
	switch req.Op {
	case framing.OpAuth, framing.OpRemoveUser3:
		ok = exists && pw == req.Password
	case framing.OpIsUser:
		ok = exists
	case framing.OpSetPass:
		ok = exists
	}
	h.mu.Lock()
	h.answers = append(h.answers, answer{at: time.Now(), req: req, ok: ok, client: req.Client})
	h.mu.Unlock()
	return ok, nil
}

// count is how many answers went to user.
func (h *helper) count(user string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, a := range h.answers {
		if a.req.User == user {
			n++
		}
	}
	return n
}

func auth(user, password, client string) framing.Request {
	r := framing.Request{Op: framing.OpAuth, User: user, Server: "example.com", Password: password}
	if client != "" {
		r.Client = netip.MustParseAddr(client)
	}
	return r
}

func newGuard(t *testing.T, cfg Config) *Guard {
	t.Helper()
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// timed runs one request and reports its answer and how long the Guard
// and Next took, by the clock of the test (fake inside a synctest
// bubble).
func timed(t *testing.T, g *Guard, req framing.Request) (bool, time.Duration, error) {
	t.Helper()
	start := time.Now()
	ok, err := g.Do(context.Background(), req)
	return ok, time.Since(start), err
}

// newMemoryStore is a MemoryStore with the defaults, for a test that wraps
// it.
func newMemoryStore(t *testing.T) *MemoryStore {
	t.Helper()
	mem, err := NewMemoryStore(MemoryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return mem
}
