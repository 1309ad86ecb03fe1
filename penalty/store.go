package penalty

import (
	"context"
	"encoding/hex"
	"time"
)

// Key names what a penalty is kept for: one address, one (user, address)
// pair or one user. It is a keyed hash (see doc.go), so a store holds no
// name and no address, and keys made under one secret mean nothing under
// another.
type Key [16]byte

// String is the key in hex, for a store that needs text (a Redis key).
func (k Key) String() string { return hex.EncodeToString(k[:]) }

// Mark stands for one wrong password tried for one user: a keyed hash of
// user, server and password. Equal marks mean the same wrong password; a
// mark tells nothing else.
type Mark [8]byte

// String is the mark in hex.
func (m Mark) String() string { return hex.EncodeToString(m[:]) }

// MaxMarks is how many of a key's last wrong passwords a store remembers:
// a password among them does not raise the key's penalty again.
const MaxMarks = 4

// State is what a store knows of one key.
type State struct {
	// Failures counts the key's failed attempts with distinct wrong
	// passwords since it was last forgotten; zero means not penalised.
	Failures int
	// Since is the time since the key's last failure by the store's own
	// clock; it means nothing when Failures is zero. A store reports an
	// age, not a time, so that the Guard never compares two clocks.
	Since time.Duration
}

// Store keeps penalty state per key. Each method is atomic for its key,
// and a Store is safe for concurrent use. The in-memory MemoryStore serves
// one daemon; a store shared by several daemons implements the same
// contract with its own clock, and with the window as its keys' expiry.
//
// The contract:
//
//   - A key whose last failure is Window or more ago (the store's window,
//     by the store's clock) is forgotten: Get reports the zero State and
//     Fail starts afresh.
//   - Fail records a failed attempt with mark. If mark is one of the last
//     MaxMarks marks recorded for the key, the key's last-failure time is
//     renewed but its count is not raised, and Fail reports false;
//     otherwise the count rises by one, mark is remembered (the oldest
//     mark dropped), the last-failure time is now, and Fail reports true.
//   - Clear forgets the key.
//   - A store may forget keys early to bound its size, oldest last failure
//     first.
//   - Every call is bounded in time by the store itself, whatever ctx
//     allows: the Guard waits for the store before a login is answered. An
//     error costs the login nothing: the Guard counts and logs it and goes
//     on as if the key had no penalty.
type Store interface {
	Get(ctx context.Context, key Key) (State, error)
	Fail(ctx context.Context, key Key, mark Mark) (raised bool, err error)
	Clear(ctx context.Context, key Key) error
}

// Lener is a Store that can tell how many keys it holds, for Stats.
type Lener interface {
	Len() int
}
