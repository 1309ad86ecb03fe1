package redisstore

import "github.com/valkey-io/valkey-go"

// A key is one Redis hash, named Prefix + the key in hex, with three
// fields: f, the count of failures; t, the last failure in microseconds
// by Redis's clock; m, the last MaxMarks marks in hex, oldest first. It
// expires Window after its last failure. The scripts run whole on the
// server, so each call is atomic for its key whatever the daemons do, and
// every time is Redis's own (TIME): no two daemons' clocks are compared.
//
// Every script checks the age against the window itself besides the
// expiry, so that a test clock (ARGV now) can move time past it, and so
// that a key is forgotten at exactly a window whatever Redis's expiry
// granularity.
//
// Lua numbers are doubles: microseconds since 1970 (about 1.8e15) are
// exact below 2^53, and string.format('%d') writes them whole (tostring
// would round to 14 digits).

// getScript: KEYS[1] the key; ARGV[1] the window in µs; ARGV[2] now in µs,
// or empty for Redis's clock. Returns {failures, µs since the last}, or
// {0, 0} for a key forgotten.
var getScript = valkey.NewLuaScriptReadOnly(`#!lua flags=no-writes
local v = redis.call('HMGET', KEYS[1], 'f', 't')
local f, last = tonumber(v[1]), tonumber(v[2])
if not f or not last then return {0, 0} end
local now = tonumber(ARGV[2])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local since = now - last
if since >= tonumber(ARGV[1]) then return {0, 0} end
if since < 0 then since = 0 end
return {f, since}
`)

// failScript: KEYS[1] the key; ARGV[1] the mark in hex; ARGV[2] the window
// in µs; ARGV[3] now in µs, or empty for Redis's clock; ARGV[4] how many
// marks to keep. Returns 1 when the count rose, 0 for a mark among the
// last ones (the last failure renewed all the same).
var failScript = valkey.NewLuaScript(`#!lua
local window = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local v = redis.call('HMGET', KEYS[1], 'f', 't', 'm')
local f, last, marks = tonumber(v[1]) or 0, tonumber(v[2]), v[3] or ''
if not last or now - last >= window then f, marks = 0, '' end
local mark = ARGV[1]
local raised = 1
for i = 1, #marks, #mark do
  if string.sub(marks, i, i + #mark - 1) == mark then
    raised = 0
    break
  end
end
if raised == 1 then
  marks = marks .. mark
  local keep = #mark * tonumber(ARGV[4])
  if #marks > keep then marks = string.sub(marks, -keep) end
  if f < 65535 then f = f + 1 end
end
redis.call('HSET', KEYS[1], 'f', f, 't', string.format('%d', now), 'm', marks)
redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000))
return raised
`)
