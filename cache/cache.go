package cache

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/authpool/authpool/framing"
)

// Doer is what the cache wraps and what it is: *pool.Pool satisfies it,
// and so does *Cache. Do is called in the caller's goroutine, many at once.
type Doer interface {
	Do(ctx context.Context, req framing.Request) (bool, error)
}

// DefaultMaxEntries is the bound on entries when Config.MaxEntries is zero.
const DefaultMaxEntries = 10000

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
	// MaxEntries bounds the entries kept; past it the least recently used
	// goes. Zero means DefaultMaxEntries.
	MaxEntries int
	// Now tells the time, for tests; nil means time.Now.
	Now func() time.Time
}

// Cache answers repeated auth and isuser requests from memory and forwards
// everything else to Config.Next. It is safe for concurrent use. Create it
// with New; it has nothing to close.
type Cache struct {
	next        Doer
	ttl, negTTL time.Duration
	now         func() time.Time
	passThrough bool // both TTLs zero
	key         secretKey

	mu      sync.Mutex
	entries *simplelru.LRU[digest, entry] // entry key → answer
	users   map[digest]*userState         // user key → that user's entries
	stats   Stats                         // Entries is filled in by Stats
}

// entry is all the cache keeps per answer: nothing in it is a name or a
// password, or can be turned back into one without the key.
type entry struct {
	ok      bool
	expires time.Time
	user    digest // the user's key, to leave the user index on removal
}

// New returns a Cache in front of cfg.Next.
func New(cfg Config) (*Cache, error) {
	switch {
	case cfg.Next == nil:
		return nil, errors.New("cache: Config.Next is nil")
	case cfg.TTL < 0 || cfg.NegativeTTL < 0:
		return nil, errors.New("cache: negative TTL")
	case cfg.MaxEntries < 0:
		return nil, errors.New("cache: negative MaxEntries")
	}
	if cfg.MaxEntries == 0 {
		cfg.MaxEntries = DefaultMaxEntries
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Cache{
		next:        cfg.Next,
		ttl:         cfg.TTL,
		negTTL:      cfg.NegativeTTL,
		now:         cfg.Now,
		passThrough: cfg.TTL == 0 && cfg.NegativeTTL == 0,
		key:         newSecretKey(),
		users:       make(map[digest]*userState),
	}
	lru, err := simplelru.NewLRU(cfg.MaxEntries, c.unindex)
	if err != nil {
		return nil, err
	}
	c.entries = lru
	return c, nil
}

// Do answers an auth or isuser from the cache when it can, and otherwise
// asks Config.Next, in the caller's goroutine. A change to a user
// (setpass, tryregister, removeuser, removeuser3) drops that user's
// entries. Errors from Next are returned unchanged.
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

// lookup answers req from a fresh entry, or asks Next and stores the
// answer unless the user changed meanwhile.
func (c *Cache) lookup(ctx context.Context, req framing.Request) (bool, error) {
	ek, uk := c.key.entry(req), c.key.user(req.User, req.Server)
	now := c.now()
	c.mu.Lock()
	if e, ok := c.entries.Get(ek); ok {
		if now.Before(e.expires) {
			c.stats.Hits++
			c.mu.Unlock()
			return e.ok, nil
		}
		c.entries.Remove(ek)
	}
	c.stats.Misses++
	st := c.userLocked(uk)
	st.pending++
	gen := st.gen
	c.mu.Unlock()

	yes, err := c.next.Do(ctx, req)
	c.finishMiss(uk, ek, gen, yes, err)
	return yes, err
}

// finishMiss stores a miss's answer if it is one, its kind has a TTL, and
// the user has not changed since the miss was forwarded.
func (c *Cache) finishMiss(uk, ek digest, gen uint64, yes bool, err error) {
	ttl := c.ttlFor(yes, err)
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.users[uk] // kept by st.pending
	if ttl > 0 && st.gen == gen {
		if c.entries.Add(ek, entry{ok: yes, expires: now.Add(ttl), user: uk}) {
			c.stats.Evictions++
		}
		st.entries[ek] = struct{}{}
	}
	st.pending--
	c.dropIfIdle(uk, st)
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

// change drops the user's entries, asks Next, and drops them again when
// its answer, whatever it is, arrives.
func (c *Cache) change(ctx context.Context, req framing.Request) (bool, error) {
	uk := c.key.user(req.User, req.Server)
	c.mu.Lock()
	st := c.userLocked(uk)
	st.pending++
	c.invalidateLocked(st)
	c.mu.Unlock()

	yes, err := c.next.Do(ctx, req)
	c.finishChange(uk)
	return yes, err
}

func (c *Cache) finishChange(uk digest) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.users[uk] // kept by st.pending
	c.invalidateLocked(st)
	st.pending--
	c.dropIfIdle(uk, st)
}
