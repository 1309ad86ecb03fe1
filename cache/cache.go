package cache

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/authpool/authpool/framing"
)

// Doer is what the cache wraps and what it is: *pool.Pool satisfies it,
// and so does *Cache. Do is called in the caller's goroutine, many at once.
type Doer interface {
	Do(ctx context.Context, req framing.Request) (bool, error)
}

// MinSecret is the shortest Config.Secret taken, as penalty.MinSecret:
// the cluster secret serves both.
const MinSecret = 32

// Config configures a Cache. Next is required; every zero value has the
// meaning its comment gives.
type Config struct {
	// Next answers what the cache cannot: misses, changes, everything
	// else.
	Next Doer
	// TTL is how long a yes to auth or isuser is kept; zero keeps none.
	TTL time.Duration
	// NegativeTTL is how long a no to auth or isuser is kept; zero keeps
	// none.
	NegativeTTL time.Duration
	// Store keeps the answers. Nil means a MemoryStore of MaxEntries,
	// made by New, with Now as its clock.
	Store Store
	// Secret is the key the cache's keys are derived from: the cluster
	// secret (penalty.ReadSecretFile, --cluster-secret-file), at least
	// MinSecret bytes, which a shared Store requires so that every daemon
	// computes the same keys. Nil means a key of the process's own, from
	// crypto/rand, which a shared Store refuses.
	Secret []byte
	// MaxEntries bounds the entries of the MemoryStore New makes. Zero
	// means DefaultMaxEntries. Refused with a Store.
	MaxEntries int
	// Now tells the time to the MemoryStore New makes, for tests; nil
	// means time.Now. Refused with a Store.
	Now func() time.Time
}

// ErrConfig wraps every error New returns.
var ErrConfig = errors.New("cache: bad configuration")

// Cache answers repeated auth and isuser requests from its Store and
// forwards everything else to Config.Next. It is safe for concurrent use.
// Create it with New; it has nothing to close (a Store that has is closed
// by whoever made it, after the Cache is done).
type Cache struct {
	next        Doer
	ttl, negTTL time.Duration
	passThrough bool // both TTLs zero
	key         secretKey
	store       Store

	hits, misses atomic.Uint64
}

// New returns a Cache in front of cfg.Next.
func New(cfg Config) (*Cache, error) {
	bad := func(msg string) (*Cache, error) { return nil, fmt.Errorf("%w: %s", ErrConfig, msg) }
	switch {
	case cfg.Next == nil:
		return bad("Config.Next is nil")
	case cfg.TTL < 0 || cfg.NegativeTTL < 0:
		return bad("negative TTL")
	case cfg.MaxEntries < 0:
		return bad("negative MaxEntries")
	case cfg.Store != nil && (cfg.MaxEntries != 0 || cfg.Now != nil):
		return bad("MaxEntries and Now are the MemoryStore's: set them in its MemoryConfig")
	case cfg.Secret != nil && len(cfg.Secret) < MinSecret:
		return bad(fmt.Sprintf("a secret of %d bytes, want at least %d", len(cfg.Secret), MinSecret))
	case cfg.Store != nil && cfg.Store.Shared() && cfg.Secret == nil:
		// With a key of its own, this daemon's keys would be nobody
		// else's: a change through another daemon would not reach its
		// answers.
		return bad("a shared Store needs Config.Secret, the secret the cluster shares")
	}
	c := &Cache{
		next:        cfg.Next,
		ttl:         cfg.TTL,
		negTTL:      cfg.NegativeTTL,
		passThrough: cfg.TTL == 0 && cfg.NegativeTTL == 0,
		store:       cfg.Store,
	}
	if cfg.Secret != nil {
		c.key = deriveKey(cfg.Secret)
	} else {
		c.key = newSecretKey()
	}
	if c.store == nil {
		s, err := NewMemoryStore(MemoryConfig{MaxEntries: cfg.MaxEntries, Now: cfg.Now})
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
		c.store = s
	}
	return c, nil
}

// Do answers an auth or isuser from the store when it can, and otherwise
// asks Config.Next, in the caller's goroutine. A change to a user
// (setpass, tryregister, removeuser, removeuser3) makes the store forget
// that user's answers. Errors from Next are returned unchanged.
func (c *Cache) Do(ctx context.Context, req framing.Request) (bool, error) {
	switch {
	case c.passThrough:
		return c.next.Do(ctx, req)
	case cacheable(req.Op):
		return c.lookup(ctx, req)
	case changesUser(req.Op):
		return c.change(ctx, req)
	}
	return c.next.Do(ctx, req)
}

func cacheable(op framing.Op) bool { return op == framing.OpAuth || op == framing.OpIsUser }

func changesUser(op framing.Op) bool {
	switch op {
	case framing.OpSetPass, framing.OpTryRegister, framing.OpRemoveUser, framing.OpRemoveUser3:
		return true
	}
	return false
}

// lookup answers req from a fresh entry, or asks Next and hands the
// answer to the store, which keeps it unless the user changed meanwhile.
func (c *Cache) lookup(ctx context.Context, req framing.Request) (bool, error) {
	ek, uk := c.key.entry(req), c.key.user(req.User, req.Server)
	cached, hit, t := c.store.Get(ctx, uk, ek)
	if hit {
		c.hits.Add(1)
		return cached, nil
	}
	c.misses.Add(1)
	yes, err := c.next.Do(ctx, req)
	// The store's calls are bounded by its own timeout, not by the
	// caller's context, which may have ended with the answer in hand: a
	// ticket is handed back whatever the caller does.
	c.store.Put(context.WithoutCancel(ctx), t, yes, c.ttlFor(yes, err))
	return yes, err
}

func (c *Cache) ttlFor(yes bool, err error) time.Duration {
	switch {
	case err != nil:
		return 0
	case yes:
		return c.ttl
	}
	return c.negTTL
}

// change makes the store forget the user's answers, asks Next, and makes
// it forget them again when Next's answer, whatever it is, arrives.
func (c *Cache) change(ctx context.Context, req framing.Request) (bool, error) {
	t := c.store.BeginChange(ctx, c.key.user(req.User, req.Server))
	yes, err := c.next.Do(ctx, req)
	c.store.EndChange(context.WithoutCancel(ctx), t)
	return yes, err
}
