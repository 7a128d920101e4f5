--[[
  Take a lock and give its holder a fencing token: a number larger than every earlier holder's.
  KEYS[1] lock key, KEYS[2] the lock's token counter
  ARGV[1] holder's random id, ARGV[2] TTL, ms, ARGV[3] floor: the token is above it (a counter lost
  with a flushed Redis restarts above what the store already holds)
  Returns the fencing token, or 0 when someone else holds the lock.
]]
if not redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2], "NX") then return 0 end
local token = redis.call("INCR", KEYS[2])
local floor = tonumber(ARGV[3])
if token <= floor then
  token = floor + 1
  redis.call("SET", KEYS[2], token)
end
return token
