// Package redisstore is a penalty.Store shared through Redis by every
// daemon that names the same server (--redis URL), so that a guesser who
// spreads its attempts over the daemons of a cluster meets one rising
// penalty: failures through daemon A raise the delay it then meets through
// daemon B. It is a package of its own so that programs embedding package
// penalty without Redis do not link a Redis client.
//
// # On the server
//
// Each key is one Redis hash (see scripts.go): its count of failures, its
// last failure in microseconds, and its last MaxMarks marks. Every call is
// one Lua script (EVALSHA, sent again with EVAL when Redis has lost its
// script cache, after a restart) that reads and updates the key whole on
// the server, so no two daemons can interleave on a key, and that takes
// the time from Redis's own clock (TIME): the daemons' clocks are never
// compared. A key expires a window after its last failure.
//
// Redis holds nothing secret: a key's name is the store's prefix and the
// key, a mark the mark, both keyed hashes (HMAC-SHA256) that package
// penalty computes under Config.Secret. Daemons that share a Redis must
// share that secret (penalty.ReadSecretFile, --cluster-secret-file), and
// nobody else may have it: with it, guessed passwords could be tested
// against the marks. Without it, a Redis copy tells no name, no address
// and no password, and no hash of one that a table of likely passwords
// could read back (TestThreeDaemonsOneRisingDelay and TestRedisOutage scan
// everything Redis held and was told).
//
// Whoever can write to the penalty keys can clear penalties: give the
// daemons a Redis user of their own that can do nothing else,
//
//	ACL SETUSER authpool on >PASSWORD ~authpool:penalty:* <ACLCommands>
//
// (redis://authpool:PASSWORD@host/ then; TestLeastPrivilegeUser runs the
// store as that user), or a unix socket only the daemons can open. Give
// Redis a maxmemory-policy that evicts keys with an expiry
// (volatile-ttl) rather than refusing writes, or a full Redis sends every
// daemon to its local penalties.
//
// Penalties are shared; the lines that take attempts on one key one at a
// time are not (they are each Guard's own, in memory): a guesser holding
// one connection to each of N daemons gets up to N guesses each time a
// penalty runs out, not one, and so raises the shared penalty N times as
// fast, to Max after fewer rounds.
//
// # When Redis is away
//
// Redis trouble never becomes a login failure, nor a login waiting on
// Redis: every call is bounded by Config.Timeout (100 ms), and the first
// that fails (an error, a timeout, a Redis paused or refusing writes)
// sends the store to its local penalty.MemoryStore: that call and every
// one after it are answered there, without asking Redis, until the health
// probe (the store's one goroutine, ended by Close) finds Redis taking
// writes and scripts again, at once and then after a backoff from
// ProbeMin (100 ms) doubling to ProbeMax (5 s). The local store records
// every failure this daemon sees, Redis up or not, so that a daemon falls
// back on the penalties it has seen itself rather than on none. Failures
// recorded only locally during an outage are not sent to Redis afterwards:
// the shared count resumes from what Redis holds. Stats counts errors,
// fallbacks and recoveries and tells the mode; the log says when the store
// falls back and when it goes back, each at most every 10 s.
//
// # The client
//
// The client is valkey-go (github.com/valkey-io/valkey-go), chosen over
// go-redis (github.com/redis/go-redis/v9), the other well-kept Go client;
// both parse redis://, rediss:// and unix:// URLs, run Lua scripts by
// EVALSHA with an EVAL fallback, and are maintained, by the Valkey project
// and by Redis Ltd. valkey-go, because:
//
//   - it brings no dependency but golang.org/x/sys, which authpool already
//     has; go-redis v9.23 brings go.uber.org/atomic, zeebo/xxh3 and
//     klauspost/cpuid;
//   - it writes no log: go-redis logs through a package-global logger to
//     standard error, where authpool passes its slog.Logger in;
//   - it retries only read-only commands, and not at all here: go-redis
//     retries any command up to three times by default when the
//     connection breaks or a read times out after it was sent, which
//     could run a Fail script twice and count one failure twice;
//   - it pipelines the calls of every goroutine on one connection, so a
//     burst of logins does not wait for a pooled connection, and a
//     caller's deadline ends its wait whatever the server does. Measured
//     against Debian's redis-server 7.0: a killed server fails a call in
//     under 0.1 ms, a paused one at the call's deadline, and Close leaves
//     no goroutine behind.
//
// For pub/sub (the shared cache's invalidations), valkey-go's Receive
// returns when the subscription's connection breaks (with retries off, as
// here) and a dedicated connection's PubSubHooks report every
// (re)subscription, so the subscriber knows each time it must flush what
// it may have missed; go-redis re-subscribes by itself and reports it
// through ChannelWithSubscriptions. Either would do; the points above
// decide.
//
// Against it: valkey.NewClient connects at once and fails when Redis is
// down, so the store connects from its probe and starts on its local
// penalties; valkey-go speaks RESP3 with client-side caching on by
// default, which the store turns off; and it would guess a Redis Cluster
// from the URL, which the store turns off too (one server, and an ACL
// user, a unix socket or rediss:// in front of it).
package redisstore
