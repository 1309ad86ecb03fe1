package rediscache

import "github.com/valkey-io/valkey-go"

// What the store keeps in Redis, every name after Prefix:
//
//	epoch        a random tag, 16 hex digits, with no expiry
//	u:<user>     a random tag, 16 hex digits: the user's generation
//	e:<entry>:<epoch tag><user tag>   "1" or "0", expiring after the TTL
//
// where <user> and <entry> are the hex of cache.Key, HMAC-SHA256 values
// under the key the Cache derives from the cluster secret. A change
// deletes u:<user>; the next lookup makes a new random tag, so every
// entry stored under the old one is never read again and expires by
// itself. An outage that may have swallowed a change deletes the epoch,
// which does the same for every user at once.
//
// The tags are random rather than counters so that a generation key that
// expired, or was evicted, and is made again never comes back with a
// value it had before: entries stored under an old generation stay dead.

// getScript: KEYS[1] the epoch, KEYS[2] the user's generation; ARGV[1] the
// entry's name up to its tags, ARGV[2] and ARGV[3] fresh tags for an
// epoch or a generation that is missing, ARGV[4] the life of a new
// generation in ms. Returns {tags, answer}, answer "" for none.
//
// The entry's name is made here, from the tags: Redis checks the ACL key
// pattern on it all the same; it is not declared in KEYS, which only a
// Redis Cluster would mind (and the store speaks to one server).
var getScript = valkey.NewLuaScript(`
local e = redis.call('GET', KEYS[1])
if not e then
  e = ARGV[2]
  redis.call('SET', KEYS[1], e)
end
local g = redis.call('GET', KEYS[2])
if not g then
  g = ARGV[3]
  redis.call('SET', KEYS[2], g, 'PX', ARGV[4])
end
local tags = e .. g
return {tags, redis.call('GET', ARGV[1] .. tags) or ''}
`)

// putScript: KEYS[1] the epoch, KEYS[2] the user's generation, KEYS[3] the
// entry; ARGV[1] the tags the entry's miss saw, ARGV[2] the answer, ARGV[3]
// the TTL in ms. Stores the answer only if neither tag changed since the
// miss, all in one step on the server, and keeps the generation alive at
// least as long as the entry. Returns 1 when stored.
var putScript = valkey.NewLuaScript(`
local e = redis.call('GET', KEYS[1])
local g = redis.call('GET', KEYS[2])
if not e or not g or e .. g ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[3], ARGV[2], 'PX', ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3], 'GT')
return 1
`)
