// Package penalty slows password guessing down where every login passes:
// Guard sits in front of the helpers (any Doer: the cache, the pool) and
// makes each password check on a key that has failed recently wait before
// it is asked, one attempt at a time. It follows Dovecot's auth_penalty,
// with keys for the user and the (user, address) pair besides the address,
// lines per key, and no penalty for a stale password retried.
//
// Put it in front of the cache, not behind: a cached yes is exactly the
// answer a guesser is after, and a success answered from the cache must
// still clear its pair.
//
// # Keys
//
// A password check (auth, and ejabberd's removeuser3, which removes the
// user if the password matches) has up to three keys:
//
//   - the client's address, when the request carries one
//     (framing.Request.Client): IPv4 addresses one by one, IPv6 ones by
//     their /64 (Config.IPv6Bits), since one host commonly holds a whole
//     /64;
//   - the (user@server, address) pair, when the address is known;
//   - user@server.
//
// A key's penalty is Base after its first failure, doubled by each further
// failure up to Max, and counted from its last failure: an attempt on the
// key waits until that long after it. A key is forgotten Window after its
// last failure. The defaults are the daemon's flags': 2 s, 15 s, 10 min.
//
// An attempt waits for the longest of its keys' remaining penalties, where
// the user's own key counts for at most UserMax (2 s) when the address is
// unknown or has no failure of its own (neither its address key nor its
// pair): a guesser elsewhere cannot lock the real user out, and a clean
// address meets at most UserMax. An address that has failed itself meets
// the user's full penalty, so a guesser's second try from each of its
// addresses costs as much as a guess from one.
//
// # Lines
//
// Waiting alone would let 16 connections wait out one penalty together
// and then guess 16 times. So attempts on a penalised key go through one
// at a time, in the order they came, each one waiting out the penalty its
// predecessor left: such an attempt takes the line of its pair (of its
// user when the address is unknown), and the line of its address once
// that address has failed. It holds its lines until its answer is
// recorded. Every attempt takes its own line before its address's, and
// none takes them the other way round, so lines cannot deadlock.
//
// Attempts on keys with no penalty are asked at once, side by side: a user
// logging in from several devices, or a load test of one account, waits
// for nobody. But a guesser's 16 simultaneous first guesses must not give
// 16 answers. So when one of them fails, the answers of the others asked
// meanwhile on the same pair, user (no address) or address are held: each
// takes its lines and waits out the penalty as if it had come after the
// failure, and only then is given. The first failure holds its lines while
// it is recorded, so that the held ones find it. A held attempt whose
// deadline comes first gets no answer, and its failure counts all the
// same. The helper is asked 16 times; the guesser hears one answer per
// penalty.
//
// 16 connections guessing one user's password from one address get 5
// answers in 30 s (at 0, 2, 6, 14 and 29 s); with no address, about 15,
// UserMax apart. One address guessing many users at once gets the same: a
// failure for one user holds the answers for the others.
//
// Every wait respects the request's context. An attempt whose deadline
// comes before its penalty is over ends at once with ErrPenalised (no
// answer could come in time; holding the line to the deadline would only
// delay the next). More than MaxWaiting attempts in one line are refused
// at once with ErrBusy. Neither reaches Next, and neither is a failure.
// The Guard starts no goroutine: an attempt waits on its caller's, and
// holds no helper meanwhile, since Next is asked only after the wait.
//
// # Failures and successes
//
// When Next says no, each key of the attempt is raised, unless the same
// wrong password is among the last MaxMarks already recorded for that
// key: a client retrying a stale saved password is slowed down by the
// penalty it already has but does not make it grow, and the failure is
// logged as repeated (fail2ban does not count it). A repeat tells a
// guesser nothing new. When Next says yes, the attempt's (user, address)
// pair is forgotten: not its address, which a guesser could clear by
// logging into an account of its own, nor its user, which a guesser
// elsewhere is raising. An error from Next (a timeout, a crashed helper)
// changes nothing.
//
// isuser, setpass, tryregister and removeuser pass through untouched.
// None of them tells whether a password is right: setpass sets one (the
// XMPP server asks only for a user it has logged in, or for an
// administrator), so a setpass cannot be used to guess, and delaying it
// would only slow a real change down. isuser does tell whether an account
// exists; so does the XMPP server's own registration, and penalising it
// would delay every server-to-server lookup.
//
// Config.Exempt lists trusted networks (a webmail front end that logs
// users in from its own address): they are never delayed, take no line,
// and raise only the user's key (a guess through the front end still
// counts against the account, capped at UserMax elsewhere).
//
// # Marks and keys are keyed hashes
//
// A store never sees a name, an address or a password: keys are the first
// 16 bytes of HMAC-SHA256 over a domain and the length-prefixed fields,
// and a wrong password is remembered as a mark, the first 8 bytes of the
// HMAC of user, server and password. The secret is 32 random bytes made
// by New and never written anywhere (Config.Secret replaces it for
// daemons that share a store). An unkeyed hash would not do: users'
// passwords are guessable, and a table of hashes of likely passwords would
// read the marks back. 8 bytes keep apart the few marks of one key; a
// collision would only let one new wrong password count as a repeat.
//
// # Stores
//
// Store holds the state per key, with the window and the clock its own,
// so that a store shared by several daemons (Redis: one script per key,
// the server's clock, expiry = window) keeps one count across them.
// MemoryStore is the daemon's own: bounded by MaxKeys, the key with the
// oldest failure forgotten first, 80 bytes a key: a million addresses
// failing grow the heap by 19 MiB at the default 250,000 keys
// (TestMemoryMillionAddresses; BenchmarkMillionAddresses through a Guard).
// A store error never fails a login: the Guard counts it, logs it at most
// every 10 s, and goes on as if the key had no penalty.
//
// # The log line
//
// Every failed password check is one line at Warn on Config.Logger, the
// line fail2ban reads (docs/FAIL2BAN.md, contrib/fail2ban):
//
//	level=WARN msg="auth failed from 192.0.2.7" op=auth user=alice server=example.com addr=192.0.2.7 reason=wrong-password
//
// The message names the address only when the failure counts against it;
// for a repeated password, an exempt address or an unknown one it is
// "auth failed", with the address (when known) among the attributes. The
// logger must not be rate limited: the penalties already bound how fast
// one address can fail.
//
// # What it cannot do
//
// Many addresses guessing one user each meet at most UserMax at their
// first guess, so a large botnet still guesses, slowly; fail2ban, the XMPP
// server's own limits and strong passwords do the rest. With no address
// the user's key is the only one, so the real user waits in the same line
// as a guesser: give authpool the address (the HTTP API's ip parameter,
// the native protocol's field). Users behind one NAT address share its
// penalty: exempt such networks if they must not. A table full of keys
// forgets the oldest: a flood of failures from many addresses can push a
// user's key out early.
package penalty
