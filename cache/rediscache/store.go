package rediscache

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/valkey-io/valkey-go"

	"github.com/authpool/authpool/cache"
	"github.com/authpool/authpool/internal/redisconn"
)

// Mode is whether a Store asks Redis now.
type Mode = redisconn.Mode

const (
	// ModeLocal: Redis is away (or not reached yet); every lookup is a
	// miss, nothing is stored, and the health probe runs.
	ModeLocal = redisconn.ModeLocal
	// ModeRedis: answers are shared through Redis.
	ModeRedis = redisconn.ModeRedis
	// ModeClosed: Close was called; every lookup is a miss.
	ModeClosed = redisconn.ModeClosed
)

// generationLife is how long a user's generation made by a lookup lives
// unless a stored answer extends it: longer than a helper takes to answer
// (the pool's --timeout), so that a miss's answer is not refused for the
// generation's expiry alone (which would be safe, and a wasted answer),
// and short, so that a flood of misses for names nobody has leaves no
// more in Redis than its answers do.
const generationLife = time.Minute

// Store is a cache.Store shared through Redis by every daemon that names
// the same server. Create it with New, give it to cache.New with the
// cluster's secret, and Close it after the Cache is done. It is safe for
// concurrent use.
type Store struct {
	cfg  Config
	conn *redisconn.Conn

	// lost is set when a change could not be written to Redis: every
	// answer Redis holds may be stale, and the epoch must go before
	// Redis is read again.
	lost atomic.Bool

	invalidations, flushes atomic.Uint64
}

var _ cache.Store = (*Store)(nil)

// New returns a Store for cfg. It starts the health probe, which connects
// to Redis, and returns once the probe has tried once (at most
// DialTimeout and Timeout later): with Redis down, the store starts
// without it, every lookup a miss, and goes on trying. Only a bad Config
// is an error.
func New(cfg Config) (*Store, error) {
	s := &Store{}
	o, err := cfg.fill()
	if err != nil {
		return nil, err
	}
	s.cfg = cfg
	s.cfg.Timeout = o.Timeout
	o.Probe = s.probe
	if s.conn, err = redisconn.Open(o); err != nil {
		return nil, err
	}
	return s, nil
}

// Close stops the health probe and closes the connection; every lookup is
// a miss after it. It waits for the probe to end (at most a DialTimeout)
// and for the client's goodbye (at most a second). Close is idempotent.
func (s *Store) Close() error {
	s.conn.Close()
	return nil
}

// Shared implements cache.Store.
func (s *Store) Shared() bool { return true }

// Get implements cache.Store.
func (s *Store) Get(ctx context.Context, user, entry cache.Key) (answer, hit bool, t cache.Ticket) {
	t = cache.Ticket{User: user, Entry: entry}
	c := s.redis(ctx)
	if c == nil {
		return false, false, t // no tags: Put stores nothing
	}
	rctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	tags, value, err := s.lookup(rctx, c, s.userName(user), s.entryName(entry, ""))
	if err != nil {
		s.trouble(ctx, "get", err)
		return false, false, t
	}
	switch value {
	case "1":
		return true, true, cache.Ticket{}
	case "0":
		return false, true, cache.Ticket{}
	}
	t.Tag = tags
	return false, false, t
}

// lookup runs the get script for the generation named gen and the entry
// whose name starts with entry, and checks what it answers.
func (s *Store) lookup(ctx context.Context, c valkey.Client, gen, entry string) (tags, value string, err error) {
	keys := []string{s.epochName(), gen}
	args := []string{entry, newTag(), newTag(), strconv.FormatInt(generationLife.Milliseconds(), 10)}
	v, err := getScript.Exec(ctx, c, keys, args).ToArray()
	if err == nil && len(v) != 2 {
		err = errors.New("rediscache: the get script answered wrong")
	}
	if err == nil {
		tags, err = v[0].ToString()
	}
	if err == nil {
		value, err = v[1].ToString()
	}
	if err == nil && len(tags) != 32 {
		// Not a tag this package wrote: the store keeps off Redis
		// until someone deletes it.
		err = fmt.Errorf("rediscache: tags of %d bytes, want 32", len(tags))
	}
	return tags, value, err
}

// Put implements cache.Store.
func (s *Store) Put(ctx context.Context, t cache.Ticket, answer bool, ttl time.Duration) {
	if ttl <= 0 || t.Tag == "" {
		return
	}
	c := s.redis(ctx)
	if c == nil {
		return
	}
	value := "0"
	if answer {
		value = "1"
	}
	rctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	keys := []string{s.epochName(), s.userName(t.User), s.entryName(t.Entry, t.Tag)}
	// At least a millisecond: PX takes no less.
	ms := strconv.FormatInt(max(ttl.Milliseconds(), 1), 10)
	if err := putScript.Exec(rctx, c, keys, []string{t.Tag, value, ms}).Error(); err != nil {
		s.trouble(ctx, "put", err)
	}
}

// BeginChange implements cache.Store: it deletes the user's generation.
func (s *Store) BeginChange(ctx context.Context, user cache.Key) cache.Ticket {
	s.forgetUser(ctx, user)
	return cache.Ticket{User: user}
}

// EndChange implements cache.Store: it deletes the user's generation
// again.
func (s *Store) EndChange(ctx context.Context, t cache.Ticket) { s.forgetUser(ctx, t.User) }

// forgetUser deletes user's generation, so that every daemon's next
// lookup makes a new one and finds none of the old answers. When Redis
// cannot be told, every answer it holds is suspect: lost makes the store
// delete the epoch before it reads Redis again.
func (s *Store) forgetUser(ctx context.Context, user cache.Key) {
	// Not the caller's context, only Timeout: a change abandoned by its
	// caller may still be made by a helper, so Redis is told all the
	// same, and a caller that hangs up is no Redis trouble.
	ctx = context.WithoutCancel(ctx)
	c := s.redis(ctx)
	if c == nil {
		s.lose()
		return
	}
	rctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	if err := c.Do(rctx, c.B().Del().Key(s.userName(user)).Build()).Error(); err != nil {
		s.lose()
		s.trouble(ctx, "change", err)
		return
	}
	s.invalidations.Add(1)
}

// lose notes that Redis may hold stale answers: a change it was not told
// of, or a time without Redis during which other daemons' changes may not
// have reached it either (a Redis paused, or cut off from some daemons
// only). The epoch goes before Redis is read again: by the probe when it
// brings Redis back, or by the next call that finds Redis in use (redis),
// if the probe had already looked.
func (s *Store) lose() { s.lost.Store(true) }

// trouble handles a Redis call that failed (redisconn.Conn.Trouble):
// Redis is not asked again until the probe finds it, and then only after
// the epoch is gone.
func (s *Store) trouble(ctx context.Context, call string, err error) {
	if s.conn.Trouble(ctx, call, err) {
		s.lose()
	}
}

// redis is the client to ask, or nil when Redis must not be asked: away,
// or holding answers a lost change may have made stale that could not be
// forgotten yet.
func (s *Store) redis(ctx context.Context) valkey.Client {
	c := s.conn.Client()
	if c == nil || !s.lost.Load() {
		return c
	}
	// Not the caller's context: a lookup whose caller hung up must not
	// count as Redis trouble, and the epoch must go all the same.
	ctx = context.WithoutCancel(ctx)
	if err := s.forgetAll(ctx, c); err != nil {
		s.trouble(ctx, "forget all", err)
		return nil
	}
	return c
}

// forgetAll deletes the epoch if a change was lost, so that no answer
// stored before it is read again, by any daemon.
func (s *Store) forgetAll(ctx context.Context, c valkey.Client) error {
	if !s.lost.Swap(false) {
		return nil
	}
	rctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	if err := c.Do(rctx, c.B().Del().Key(s.epochName()).Build()).Error(); err != nil {
		s.lost.Store(true)
		return err
	}
	s.flushes.Add(1)
	return nil
}

// probe checks that Redis takes the store's calls (a write: a paused or
// read-only Redis is not back; the get script: scripts are loaded), and
// forgets every shared answer if a change was lost meanwhile, before any
// lookup reads one.
func (s *Store) probe(ctx context.Context, c valkey.Client) error {
	probe := s.cfg.Prefix + "probe"
	if _, _, err := s.lookup(ctx, c, probe, probe+":"); err != nil {
		return err
	}
	if err := c.Do(ctx, c.B().Del().Key(probe).Build()).Error(); err != nil {
		return err
	}
	return s.forgetAll(ctx, c)
}

func (s *Store) epochName() string { return s.cfg.Prefix + "epoch" }

func (s *Store) userName(user cache.Key) string { return s.cfg.Prefix + "u:" + user.String() }

func (s *Store) entryName(entry cache.Key, tags string) string {
	return s.cfg.Prefix + "e:" + entry.String() + ":" + tags
}

// newTag is a fresh random tag: 16 hex digits. Tags need to differ, not
// to be unpredictable: whoever can write them can delete them.
func newTag() string {
	return fmt.Sprintf("%016x", rand.Uint64())
}
