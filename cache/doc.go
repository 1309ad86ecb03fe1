// Package cache keeps recent auth and isuser answers so that a repeated
// question is answered without asking a helper. It sits between the
// daemon's listeners and the pool: it wraps anything with the pool's Do
// method and has that method itself.
//
// # What is cached
//
// Only answers to auth and isuser, and only real answers: a yes is kept for
// Config.TTL, a no for Config.NegativeTTL, and a zero TTL keeps none of that
// kind. Errors (timeouts, crashed helpers, a full queue, refused requests)
// are never kept, so a failure is always asked again. With both TTLs zero
// the cache passes every request through untouched; the daemon wraps the
// pool only when one is set. The number of entries is bounded
// (Config.MaxEntries); past it the least recently used entry goes. An
// expired entry is never served.
//
// A TTL is also the longest time the cache can be wrong: a password changed
// behind authpool's back (in the helper's database, by an administrator)
// keeps its old answer until the entry expires.
//
// # Stores
//
// The Cache decides what is cached, for how long, and which requests
// change a user; a Store (Config.Store) keeps the answers. MemoryStore,
// the default, keeps them in the process (the LRU, its user index and the
// generations described below). cache/rediscache keeps them in Redis,
// shared by every daemon that names the same server, so that an answer
// one daemon got is every daemon's, and a change through any daemon makes
// every daemon forget the user's answers. Both pass one conformance
// suite, cache/cachetest. A Store never fails a request: one that cannot
// answer (its server away) says it has nothing, stores nothing, and
// counts it (Stats.StoreErrors, Stats.Fallbacks).
//
// # Why an HMAC, and why a key that dies with the process
//
// An entry is found by HMAC-SHA256(key, op, user, server, password), each
// field length-prefixed so that no two requests share an encoding
// ("a:b"+"c" and "a"+"b:c" differ). The entry holds the answer, its expiry
// and the HMAC of user@server; it holds no user name, no server name, no
// password and nothing from which they can be computed. The cache exists to
// keep answers in memory for minutes, which is exactly what a core dump, a
// heap profile, swap or a debugger would read; none of them must turn into a
// list of passwords.
//
// A plain hash would not do: users' passwords are guessable, and a table of
// SHA-256 values of likely passwords would read them back. The HMAC key is
// 32 bytes from crypto/rand, made by New and never written anywhere, so a
// digest means nothing outside the process that made it. A shared Store
// needs every daemon to compute the same keys: the key is then derived
// from the cluster secret (Config.Secret, --cluster-secret-file) as
// HMAC-SHA256(secret, "authpool cache key v1"), so that the cache's
// hashes are made under a key of their own and never equal one the
// penalty store makes under the secret itself; what a copy of Redis tells
// without the secret is then what a core dump tells without the key. A restart forgets
// every entry, which costs only a few helper calls, and no cache content
// can outlive the process or be carried to another machine. What the key
// cannot do: whoever holds a complete image of the running process has the
// key too and can test guesses against it offline, at SHA-256 speed. Such an
// image also holds the passwords of the requests in flight at that moment,
// as the rest of the daemon must; the cache adds no stored passwords to it.
// A slow password hash would make guesses costly but every lookup as slow
// as the helper the cache is meant to spare.
//
// # Invalidation, and why generations
//
// A setpass, tryregister, removeuser or removeuser3 that passes through the
// cache drops every entry of its user@server (found through a second index,
// from HMAC(user, server) under the same key with a different domain
// prefix) before it is forwarded, and again when its answer arrives. The
// second drop removes what was stored while the change was with a helper.
//
// Dropping is not enough against an answer already on its way: an auth
// with the old password, asked just before the setpass, can be answered
// yes by the helper before the change, and arrive after the drop. Storing
// it would let the old password in for a whole TTL. So each user has a
// generation, raised by every drop; a miss notes it when it is forwarded
// and its answer is stored only if it has not changed. An answer that left
// the helper before the change is thus never stored after it. The Store
// keeps the generations (Ticket): MemoryStore counts them, rediscache
// names them with random tags in Redis, for every daemon at once.
//
// What the cache cannot see: a change whose caller gave up (its context
// ended, or the pool timed out) may still be applied by a helper after the
// cache has dropped the user's entries for the last time; an auth answered
// in between from the old password can then be kept for up to the TTL. The
// caller was told the change failed, so the old password is what it
// expects to still work.
//
// Names are compared byte for byte, as the helpers receive them: an XMPP
// server normalises user names (nodeprep) before it asks, so "Alice" and
// "alice" never both arrive for the same account.
//
// # Goroutines
//
// None of the Cache's or the MemoryStore's (a shared Store may have its
// own: see its package). Do runs in its caller's goroutine, which is the goroutine that
// serves the request:
//
//	server: a connection's reader (or a goroutine per pipelined request)
//	  └─ Cache.Do: a hit returns at once, under the store's lock (or after
//	     one bounded round trip to a shared store's server)
//	       └─ Next.Do (the pool), in the same goroutine, for a miss or a change;
//	          the answer is stored, or the user's entries dropped, on return
//
// No lock is held while Next is asked. A caller that gives up (its
// context ends) gets the context's error from the pool at once, and an
// error is never stored. Identical misses are not coalesced: each asks
// Next, as it would without the cache. The cache has nothing to close; a
// Store that has is closed by whoever made it.
package cache
