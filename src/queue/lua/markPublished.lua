--[[
  Record a build as published, only for the build lock's current holder; drop its results stream
  and let its keys expire.
  KEYS[1] build lock, KEYS[2] build hash, KEYS[3] results stream, KEYS[4] enqueued set, KEYS[5] failures hash
  ARGV[1] holder's id, ARGV[2] version, ARGV[3] now (ms), ARGV[4] seconds the keys outlive the publish
  Returns 1, or 0 when the caller no longer holds the lock.
]]
if redis.call("GET", KEYS[1]) ~= ARGV[1] then return 0 end
redis.call("HSET", KEYS[2], "state", "published", "version", ARGV[2], "publishedAt", ARGV[3])
redis.call("DEL", KEYS[3])
redis.call("EXPIRE", KEYS[2], ARGV[4])
redis.call("EXPIRE", KEYS[4], ARGV[4])
redis.call("EXPIRE", KEYS[5], ARGV[4])
return 1
