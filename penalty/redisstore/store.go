package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/valkey-io/valkey-go"

	"github.com/authpool/authpool/internal/redisconn"
	"github.com/authpool/authpool/penalty"
)

// Mode is where a Store keeps penalties now.
type Mode = redisconn.Mode

const (
	// ModeLocal: Redis is away (or not reached yet); penalties are this
	// daemon's own, in its local store, and the health probe runs.
	ModeLocal = redisconn.ModeLocal
	// ModeRedis: penalties are shared through Redis.
	ModeRedis = redisconn.ModeRedis
	// ModeClosed: Close was called; the local store answers.
	ModeClosed = redisconn.ModeClosed
)

// Store is a penalty.Store shared through Redis, with a local
// penalty.MemoryStore to fall back on. Create it with New and end it with
// Close. It is safe for concurrent use, and never returns an error: a call
// Redis does not answer in time is answered by the local store.
type Store struct {
	cfg   Config
	local *penalty.MemoryStore
	conn  *redisconn.Conn
}

// New returns a Store for cfg. It starts the health probe, which connects
// to Redis, and returns once the probe has tried once (at most
// DialTimeout and Timeout later): with Redis up, the first login already
// shares its penalties; with Redis down, the store starts on its local
// penalties and goes on trying. Only a bad Config is an error.
func New(cfg Config) (*Store, error) {
	s := &Store{}
	o, err := cfg.fill()
	if err != nil {
		return nil, err
	}
	local, err := penalty.NewMemoryStore(penalty.MemoryConfig{Window: cfg.Window, MaxKeys: cfg.MaxKeys, Now: cfg.Now})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	s.cfg, s.local = cfg, local
	s.cfg.Timeout = o.Timeout
	o.Probe = s.probe
	if s.conn, err = redisconn.Open(o); err != nil {
		return nil, err
	}
	return s, nil
}

// Close stops the health probe and closes the connection; the store then
// answers from its local penalties. It waits for the probe to end (at
// most a DialTimeout) and for the client's goodbye (which it gives up
// after a second when Redis does not answer). Close is idempotent.
func (s *Store) Close() error {
	s.conn.Close()
	return nil
}

// redis is the client to ask, or nil when the local store must answer.
func (s *Store) redis() valkey.Client { return s.conn.Client() }

// trouble handles a Redis call that failed (redisconn.Conn.Trouble):
// the store falls back to its local penalties until the probe finds
// Redis again.
func (s *Store) trouble(ctx context.Context, call string, err error) { s.conn.Trouble(ctx, call, err) }

// Get implements penalty.Store.
func (s *Store) Get(ctx context.Context, key penalty.Key) (penalty.State, error) {
	if c := s.redis(); c != nil {
		rctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
		st, err := s.redisGet(rctx, c, key)
		cancel()
		if err == nil {
			return st, nil
		}
		s.trouble(ctx, "get", err)
	}
	return s.local.Get(ctx, key)
}

// Fail implements penalty.Store. The local store records every failure
// too, Redis up or not: when Redis goes away, the daemon falls back on
// the penalties it has seen itself rather than on none.
func (s *Store) Fail(ctx context.Context, key penalty.Key, mark penalty.Mark) (bool, error) {
	raised, _ := s.local.Fail(ctx, key, mark) // never fails
	if c := s.redis(); c != nil {
		rctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
		r, err := s.redisFail(rctx, c, key, mark)
		cancel()
		if err == nil {
			return r, nil
		}
		s.trouble(ctx, "fail", err)
	}
	return raised, nil
}

// Clear implements penalty.Store, in both stores.
func (s *Store) Clear(ctx context.Context, key penalty.Key) error {
	s.local.Clear(ctx, key) // never fails
	if c := s.redis(); c != nil {
		rctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
		err := c.Do(rctx, c.B().Del().Key(s.name(key)).Build()).Error()
		cancel()
		if err != nil {
			s.trouble(ctx, "clear", err)
		}
	}
	return nil
}

func (s *Store) name(key penalty.Key) string { return s.cfg.Prefix + key.String() }

// now is the time the scripts take: empty for Redis's clock, Config.Now's
// otherwise.
func (s *Store) now() string {
	if s.cfg.Now == nil {
		return ""
	}
	return strconv.FormatInt(s.cfg.Now().UnixMicro(), 10)
}

func (s *Store) window() string { return strconv.FormatInt(s.cfg.Window.Microseconds(), 10) }

func (s *Store) redisGet(ctx context.Context, c valkey.Client, key penalty.Key) (penalty.State, error) {
	v, err := getScript.Exec(ctx, c, []string{s.name(key)}, []string{s.window(), s.now()}).AsIntSlice()
	if err != nil {
		return penalty.State{}, err
	}
	if len(v) != 2 || v[0] < 0 || v[1] < 0 {
		return penalty.State{}, fmt.Errorf("redisstore: get script answered %v", v)
	}
	if v[0] == 0 {
		return penalty.State{}, nil
	}
	return penalty.State{Failures: int(v[0]), Since: time.Duration(v[1]) * time.Microsecond}, nil
}

func (s *Store) redisFail(ctx context.Context, c valkey.Client, key penalty.Key, mark penalty.Mark) (bool, error) {
	args := []string{mark.String(), s.window(), s.now(), strconv.Itoa(penalty.MaxMarks)}
	v, err := failScript.Exec(ctx, c, []string{s.name(key)}, args).AsInt64()
	if err != nil {
		return false, err
	}
	return v == 1, nil
}
