--[[
  Release a lock only if the caller holds it (an expired lock may already belong to another).
  KEYS[1] lock key; ARGV[1] holder's token. Returns 1 when released, 0 otherwise.
]]
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("DEL", KEYS[1])
end
return 0
