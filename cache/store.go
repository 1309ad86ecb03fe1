package cache

import (
	"context"
	"encoding/hex"
	"time"
)

// Key is an HMAC-SHA256 value that stands for a request or a user in a
// Store: an entry's key or a user's key. It holds no name and no
// password, and cannot be turned back into one without the Cache's key.
type Key [32]byte

// String is the key in hex, for a store that writes keys as text.
func (k Key) String() string { return hex.EncodeToString(k[:]) }

// Ticket is what a Store hands out on a miss or at the start of a change,
// and takes back when the answer is in (Put) or the change is done
// (EndChange). It notes the user's generation when it was issued, so that
// an answer that was on its way while the user changed is not stored.
// Its fields are the store's: a Cache only passes it back, once.
type Ticket struct {
	User  Key    // the user's key
	Entry Key    // the entry's key; zero in a change's ticket
	Gen   uint64 // the user's generation, for a store that counts them
	Tag   string // the user's generation, for a store that names them
}

// Store keeps a Cache's answers. The Cache decides what is cached, for how
// long, and which requests change a user; the store keeps answers under
// their keys and forgets a user's answers when asked, including those
// still on their way. Every method is called by many goroutines at once,
// and none may fail a request: a store that cannot answer (a shared store
// whose server is away) says it has nothing, stores nothing, and counts
// it in its Stats.
//
// MemoryStore is the store of one process; cache/rediscache is one shared
// by every daemon that names the same Redis. Both pass cache/cachetest.
type Store interface {
	// Get returns the answer stored for entry, of user, if it has not
	// expired. On a miss (hit false) it returns a Ticket, which the
	// caller must hand back to Put, once, when it has an answer or gives
	// up.
	Get(ctx context.Context, user, entry Key) (answer, hit bool, t Ticket)
	// Put stores answer for t's entry for ttl, unless ttl is zero or
	// less, or t's user changed since t was issued (by a change that
	// began after it, through this store or, for a shared store, any
	// other). It ends t either way.
	Put(ctx context.Context, t Ticket, answer bool, ttl time.Duration)
	// BeginChange forgets every answer about user, and makes every Ticket
	// issued before it unable to store one. The caller asks for the
	// change and then hands the returned Ticket to EndChange, once,
	// whatever the answer.
	BeginChange(ctx context.Context, user Key) Ticket
	// EndChange forgets every answer about t's user again: those stored
	// while the change was being made, from before it was applied.
	EndChange(ctx context.Context, t Ticket)
	// Shared reports whether other processes read what the store keeps,
	// in which case the Cache must be given the secret they share
	// (Config.Secret) so that its keys are theirs.
	Shared() bool
	// StoreStats returns the store's counters, for Cache.Stats.
	StoreStats() StoreStats
}

// StoreStats are a Store's counters, all since it was made.
type StoreStats struct {
	// Entries is how many answers the store holds now, some perhaps
	// expired and not yet removed; -1 for a store that cannot tell
	// cheaply (a shared one).
	Entries int
	// Evictions counts answers removed to stay within a bound.
	Evictions uint64
	// Invalidations counts what changes made the store forget: answers
	// (MemoryStore), or users' generations (a shared store).
	Invalidations uint64
	// Errors counts calls to a shared store's server that failed; each
	// was answered as a miss, or stored nothing.
	Errors uint64
	// Fallbacks counts the times a shared store stopped asking its
	// server after an error, until it answered again.
	Fallbacks uint64
}
