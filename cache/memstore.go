package cache

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// DefaultMaxEntries is the bound on entries when MemoryConfig.MaxEntries
// (Config.MaxEntries) is zero.
const DefaultMaxEntries = 10000

// MemoryConfig configures NewMemoryStore; every zero value has the
// meaning its comment gives.
type MemoryConfig struct {
	// MaxEntries bounds the entries kept; past it the least recently used
	// goes. Zero means DefaultMaxEntries.
	MaxEntries int
	// Now tells the time, for tests; nil means time.Now.
	Now func() time.Time
}

// MemoryStore is the Store of one process: an LRU of answers, an index of
// each user's entries, and a generation per user. It is what New uses
// when Config.Store is nil.
type MemoryStore struct {
	now func() time.Time

	mu      sync.Mutex
	entries *simplelru.LRU[Key, entry] // entry key → answer
	users   map[Key]*userState         // user key → that user's entries
	stats   StoreStats                 // Entries is filled in by Stats
}

// entry is all the store keeps per answer: nothing in it is a name or a
// password, or can be turned back into one without the Cache's key.
type entry struct {
	ok      bool
	expires time.Time
	user    Key // the user's key, to leave the user index on removal
}

// userState is the user index's record of one user@server: which entries
// are theirs, and how many times they have been dropped. It lives while the
// user has entries or requests in flight; a miss in flight keeps it, so the
// generation it noted is still there to compare when its answer arrives.
type userState struct {
	entries map[Key]struct{}
	gen     uint64 // raised by every drop of the user's entries
	pending int    // tickets issued and not yet handed back
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore(cfg MemoryConfig) (*MemoryStore, error) {
	if cfg.MaxEntries < 0 {
		return nil, errors.New("cache: negative MaxEntries")
	}
	if cfg.MaxEntries == 0 {
		cfg.MaxEntries = DefaultMaxEntries
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &MemoryStore{now: cfg.Now, users: make(map[Key]*userState)}
	lru, err := simplelru.NewLRU(cfg.MaxEntries, s.unindex)
	if err != nil {
		return nil, err
	}
	s.entries = lru
	return s, nil
}

// Get implements Store.
func (s *MemoryStore) Get(_ context.Context, user, ek Key) (answer, hit bool, t Ticket) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.entries.Get(ek); ok {
		if now.Before(e.expires) {
			return e.ok, true, Ticket{}
		}
		s.entries.Remove(ek)
	}
	st := s.userLocked(user)
	st.pending++
	return false, false, Ticket{User: user, Entry: ek, Gen: st.gen}
}

// Put implements Store.
func (s *MemoryStore) Put(_ context.Context, t Ticket, answer bool, ttl time.Duration) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.users[t.User] // kept by st.pending
	if st == nil {
		return // not a ticket of this store's, or handed back twice
	}
	if ttl > 0 && st.gen == t.Gen {
		if s.entries.Add(t.Entry, entry{ok: answer, expires: now.Add(ttl), user: t.User}) {
			s.stats.Evictions++
		}
		st.entries[t.Entry] = struct{}{}
	}
	st.pending--
	s.dropIfIdle(t.User, st)
}

// BeginChange implements Store.
func (s *MemoryStore) BeginChange(_ context.Context, user Key) Ticket {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.userLocked(user)
	st.pending++
	s.invalidateLocked(st)
	return Ticket{User: user}
}

// EndChange implements Store.
func (s *MemoryStore) EndChange(_ context.Context, t Ticket) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.users[t.User] // kept by st.pending
	if st == nil {
		return
	}
	s.invalidateLocked(st)
	st.pending--
	s.dropIfIdle(t.User, st)
}

// Shared implements Store: a MemoryStore is its process's alone.
func (s *MemoryStore) Shared() bool { return false }

// StoreStats implements Store.
func (s *MemoryStore) StoreStats() StoreStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Entries = s.entries.Len()
	return st
}

// userLocked returns uk's record, made if missing. Callers hold s.mu.
func (s *MemoryStore) userLocked(uk Key) *userState {
	st := s.users[uk]
	if st == nil {
		st = &userState{entries: make(map[Key]struct{})}
		s.users[uk] = st
	}
	return st
}

// invalidateLocked drops every entry of st's user and raises its
// generation, so that answers already on their way are not stored. Callers
// hold s.mu and keep st alive (st.pending > 0).
func (s *MemoryStore) invalidateLocked(st *userState) {
	st.gen++
	for ek := range st.entries {
		s.entries.Remove(ek) // unindex deletes it from st.entries
		s.stats.Invalidations++
	}
}

// unindex is the LRU's removal callback, for evictions, expiries and
// invalidations alike: the entry leaves its user's record. Callers hold
// s.mu (every LRU call is made under it).
func (s *MemoryStore) unindex(ek Key, e entry) {
	st := s.users[e.user]
	if st == nil {
		return
	}
	delete(st.entries, ek)
	s.dropIfIdle(e.user, st)
}

// dropIfIdle forgets a user with no entries and nothing in flight. Callers
// hold s.mu.
func (s *MemoryStore) dropIfIdle(uk Key, st *userState) {
	if st.pending == 0 && len(st.entries) == 0 {
		delete(s.users, uk)
	}
}
