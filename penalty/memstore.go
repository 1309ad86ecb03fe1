package penalty

import (
	"context"
	"errors"
	"math"
	"sync"
	"time"
)

// Defaults of MemoryConfig and Config.
const (
	DefaultWindow  = 10 * time.Minute
	DefaultMaxKeys = 250_000
)

// MemoryConfig configures NewMemoryStore. Every zero value has the default
// its comment gives.
type MemoryConfig struct {
	// Window is how long a key is remembered after its last failure. Zero
	// means DefaultWindow.
	Window time.Duration
	// MaxKeys bounds the keys held; past it the key whose last failure is
	// oldest is forgotten. Zero means DefaultMaxKeys. A key costs 80 bytes
	// with its share of the index (72 for its slot), so a full table at
	// the default takes 20 MiB however many addresses fail
	// (TestMemoryMillionAddresses measures it).
	MaxKeys int
	// Now tells the time, for tests; nil means time.Now.
	Now func() time.Time
}

// MemoryStore is a Store in the daemon's memory. Create it with
// NewMemoryStore; it has no goroutine and nothing to close.
//
// Its keys live in one slice, linked in the order of their last failure,
// found through an open-addressing index of slot numbers: no pointer per
// key, so a full table is two large allocations that the garbage
// collector does not scan, and its size does not depend on how keys came
// and went (a Go map under constant churn grows to several times its
// live entries).
// Forgetting is lazy: an expired key is dropped when it is next read, and
// each Fail drops a few expired keys from the old end.
type MemoryStore struct {
	window time.Duration
	max    int
	now    func() time.Time
	epoch  time.Time

	mu         sync.Mutex
	index      index
	slots      []slot
	head, tail int32 // newest and oldest last failure; none when empty
	free       int32 // first unused slot, chained through next
}

// slot is one key's record; 72 bytes.
type slot struct {
	key        Key
	last       int64 // last failure, nanoseconds since the store's epoch
	marks      [MaxMarks]Mark
	prev, next int32 // towards head, towards tail
	failures   uint16
	nmarks     uint8
	ring       uint8 // where the next mark goes
}

const none = -1

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore(cfg MemoryConfig) (*MemoryStore, error) {
	switch {
	case cfg.Window < 0:
		return nil, errors.New("penalty: negative window")
	case cfg.MaxKeys < 0 || cfg.MaxKeys > math.MaxInt32:
		return nil, errors.New("penalty: MaxKeys out of range")
	}
	if cfg.Window == 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.MaxKeys == 0 {
		cfg.MaxKeys = DefaultMaxKeys
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &MemoryStore{
		window: cfg.Window,
		max:    cfg.MaxKeys,
		now:    cfg.Now,
		epoch:  cfg.Now(),
		head:   none,
		tail:   none,
		free:   none,
	}, nil
}

// clock is now as the store counts it. The epoch keeps the monotonic
// reading of time.Now, so a wall clock step moves no key.
func (s *MemoryStore) clock() int64 { return int64(s.now().Sub(s.epoch)) }

// Get implements Store.
func (s *MemoryStore) Get(_ context.Context, key Key) (State, error) {
	now := s.clock()
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.lookup(key, now)
	if !ok {
		return State{}, nil
	}
	sl := &s.slots[i]
	return State{Failures: int(sl.failures), Since: time.Duration(now - sl.last)}, nil
}

// Fail implements Store.
func (s *MemoryStore) Fail(_ context.Context, key Key, mark Mark) (bool, error) {
	now := s.clock()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep(now, 2)
	i, ok := s.lookup(key, now)
	if !ok {
		i = s.insert(key)
	}
	sl := &s.slots[i]
	sl.last = now
	s.unlink(i)
	s.pushHead(i)
	for _, m := range sl.marks[:sl.nmarks] {
		if m == mark {
			return false, nil
		}
	}
	sl.marks[sl.ring] = mark
	sl.ring = (sl.ring + 1) % MaxMarks
	if sl.nmarks < MaxMarks {
		sl.nmarks++
	}
	if sl.failures < math.MaxUint16 {
		sl.failures++
	}
	return true, nil
}

// Clear implements Store.
func (s *MemoryStore) Clear(_ context.Context, key Key) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i, ok := s.index.find(s.slots, key); ok {
		s.remove(i)
	}
	return nil
}

// Len reports the keys held, some perhaps expired and not yet dropped.
func (s *MemoryStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.index.n
}

// lookup finds key's slot, dropping it if it has expired.
func (s *MemoryStore) lookup(key Key, now int64) (int32, bool) {
	i, ok := s.index.find(s.slots, key)
	if !ok {
		return 0, false
	}
	if s.expired(i, now) {
		s.remove(i)
		return 0, false
	}
	return i, true
}

func (s *MemoryStore) expired(i int32, now int64) bool {
	return now-s.slots[i].last >= int64(s.window)
}

// sweep drops up to n expired keys from the old end, so that a table
// nobody reads again still empties over time.
func (s *MemoryStore) sweep(now int64, n int) {
	for ; n > 0 && s.tail != none && s.expired(s.tail, now); n-- {
		s.remove(s.tail)
	}
}

// insert makes a fresh slot for key, not linked yet, forgetting the oldest
// key if the table is full.
func (s *MemoryStore) insert(key Key) int32 {
	if s.index.n >= s.max {
		s.remove(s.tail)
	}
	var i int32
	if s.free != none {
		i = s.free
		s.free = s.slots[i].next
	} else {
		if len(s.slots) == cap(s.slots) {
			// Grow by doubling, but never past max: append's own
			// growth would leave up to a quarter of a full table unused.
			grown := make([]slot, len(s.slots), min(max(2*cap(s.slots), 256), s.max))
			copy(grown, s.slots)
			s.slots = grown
		}
		s.slots = append(s.slots, slot{})
		i = int32(len(s.slots) - 1)
	}
	s.slots[i] = slot{key: key, prev: none, next: none}
	s.index.add(s.slots, i)
	return i
}

func (s *MemoryStore) remove(i int32) {
	s.unlink(i)
	s.index.remove(s.slots, i)
	s.slots[i] = slot{next: s.free}
	s.free = i
}

func (s *MemoryStore) unlink(i int32) {
	sl := &s.slots[i]
	if sl.prev != none {
		s.slots[sl.prev].next = sl.next
	} else if s.head == i {
		s.head = sl.next
	}
	if sl.next != none {
		s.slots[sl.next].prev = sl.prev
	} else if s.tail == i {
		s.tail = sl.prev
	}
	sl.prev, sl.next = none, none
}

func (s *MemoryStore) pushHead(i int32) {
	sl := &s.slots[i]
	sl.prev, sl.next = none, s.head
	if s.head != none {
		s.slots[s.head].prev = i
	}
	s.head = i
	if s.tail == none {
		s.tail = i
	}
}
