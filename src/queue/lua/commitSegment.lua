--[[
  Register a segment written to S3, only for the build lock's current holder: acknowledge and
  delete the stream entries it holds and record the aggregated count. A holder that lost the lock
  gets 0 and must not act on the build again (its entries stay pending for the new owner).
  KEYS[1] build lock, KEYS[2] results stream, KEYS[3] build hash
  ARGV[1] holder's id, ARGV[2] consumer group, ARGV[3] aggregated count, ARGV[4..] entry ids
]]
if redis.call("GET", KEYS[1]) ~= ARGV[1] then return 0 end
local chunk = 500
for i = 4, #ARGV, chunk do
  local last = math.min(i + chunk - 1, #ARGV)
  redis.call("XACK", KEYS[2], ARGV[2], unpack(ARGV, i, last))
  redis.call("XDEL", KEYS[2], unpack(ARGV, i, last))
end
redis.call("HSET", KEYS[3], "aggregated", ARGV[3])
return 1
