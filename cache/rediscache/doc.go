// Package rediscache is a cache.Store shared through Redis by every daemon
// that names the same server (--redis URL): an answer one daemon got from
// its helper is every daemon's, and a setpass, tryregister, removeuser or
// removeuser3 through any daemon makes every daemon forget that user's
// answers before its next lookup. It is a package of its own so that
// programs embedding package cache without Redis do not link a Redis
// client. Wire it as
//
//	store, err := rediscache.New(rediscache.Config{URL: url, Logger: log})
//	...
//	c, err := cache.New(cache.Config{Next: pool, TTL: ttl, NegativeTTL: negTTL,
//		Store: store, Secret: secret}) // secret: penalty.ReadSecretFile
//	...
//	defer store.Close() // after the last c.Do
//
// # What is in Redis
//
// Three kinds of key, under Prefix (authpool:cache:):
//
//	epoch                     a random tag (16 hex digits), no expiry
//	u:<user>                  the user's generation: a random tag, expiring
//	                          no sooner than the user's last entry
//	e:<entry>:<epoch><user>   "1" or "0", expiring after the TTL (PX)
//
// <user> and <entry> are cache.Key in hex: HMAC-SHA256 under the key
// package cache derives from the cluster secret (cache.Config.Secret), of
// user@server and of the request with its password. No name, no password,
// and no hash of one made without the secret is written to Redis, nor
// sent to it (TestRedisOutage scans every key, value, DUMP, the
// append-only file and every command MONITOR saw for the passwords, the
// user names, and their SHA-256, SHA-1 and MD5, raw and in hex). Daemons
// that share a Redis must share the secret, and nobody else may have it:
// with it, guessed passwords could be tested against the entries' names.
// Expiry is Redis's own (PX): no two daemons' clocks are compared.
//
// # Invalidation: generations in Redis, and no copies elsewhere
//
// A lookup is one Lua script, one round trip: it reads the epoch and the
// user's generation (making either, with a random tag the daemon sends,
// when it is missing) and the entry named by both. A change deletes the
// user's generation (DEL), before it is asked of the helper and again
// when it is answered: the next lookup of any daemon makes a new tag,
// every entry under the old one is never read again and expires by
// itself. A miss's answer is stored by a second script only if the epoch
// and the generation are still the tags its lookup saw, so an answer that
// left the helper before a change, through any daemon, is never stored
// after it; and were it stored, its name would hold the dead tags. Tags
// are random, not counters, so that a generation that expired or was
// evicted, and is made again, never takes a value it had: an old entry
// cannot come back to life.
//
// The store keeps no copy of an answer outside Redis, by choice. A local
// near cache (valkey-go's client-side caching, DoCache over RESP3
// tracking, which drops its copies when the connection breaks, or
// PUBLISH/SUBSCRIBE) is told of a change by a message that arrives after
// the change has returned to whoever made it, and learns of a broken
// connection only when it reads from it: in between, a daemon could let
// in an old password at the very next request the issue asks it to
// refuse. A lookup costs one round trip instead (tens of microseconds on
// a LAN, against a helper's milliseconds), as the penalty store's calls
// already do for every login; a hit is then exactly as fresh as Redis.
//
// # When Redis is away
//
// Redis trouble never becomes a login failure, nor a login waiting on
// Redis: every call is bounded by Config.Timeout (100 ms), and the first
// that fails (an error, a timeout, a Redis paused or refusing writes, a
// connection killed) makes the store do without Redis: that lookup and
// every one after it is a miss, answered by the helper, and nothing is
// stored, until the health probe (the store's one goroutine, shared code
// with penalty/redisstore, ended by Close) finds Redis taking writes and
// scripts again, at once and then after a backoff from ProbeMin (100 ms)
// doubling to ProbeMax (5 s). Stats counts errors, fallbacks, recoveries
// and flushes and tells the mode; the log says when the store stops using
// Redis and when it goes back, each at most every 10 s.
//
// While a daemon does without Redis, changes through it do not reach
// Redis, and changes through others may not have either (a paused Redis,
// or one cut off from some daemons only). So a store that fell back, or
// could not write a change, deletes the epoch before it reads Redis
// again: every answer Redis held is forgotten by every daemon at once, at
// the cost of one helper call per question asked again. What no store
// can see: a daemon cut off from Redis alone, through which a user
// changes, while the others still read Redis; they may serve that user's
// old answers until it is back (at most its next probe after Redis
// answers it) or the answers expire (the TTL). Keep --cache-ttl short
// where that matters.
//
// # Access control
//
// Whoever can write to the cache's keys can make any daemon accept any
// password for a TTL: give the daemons a Redis user of their own that can
// do nothing else,
//
//	ACL SETUSER authpool on >PASSWORD ~authpool:cache:* ~authpool:penalty:* <ACLCommands> <redisstore.ACLCommands>
//
// (redis://authpool:PASSWORD@host/ then; TestLeastPrivilegeUser runs the
// conformance suite as a user with ~authpool:cache:* and ACLCommands
// alone), or a unix socket only the daemons can open, or rediss:// with
// the TLS configuration Config.TLS gives. Give Redis a maxmemory-policy
// that evicts keys with an expiry (volatile-ttl) rather than refusing
// writes, or a full Redis sends every daemon to its helpers: an evicted
// generation only makes its user's answers asked again.
//
// The client is valkey-go, as for penalty/redisstore (see its package doc
// for why), with the same URL rules, shared in internal/redisconn.
package rediscache
