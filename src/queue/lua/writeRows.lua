--[[
  Append finished triples to a build's results stream and bump the build's counters, atomically.
  KEYS[1] results stream, KEYS[2] build hash, KEYS[3] failures hash
  ARGV[1] now (ms), then per row: JSON row, status ("ok"|"failed"), failure reason ("" when ok)
  Returns the rows written; -1 (nothing written) when the build has no record (removed, or never
  created) and -2 when it is published: a late row must not recreate a deleted stream or counters.
]]
local state = redis.call("HGET", KEYS[2], "state")
if not state then return -1 end
if state == "published" then return -2 end
local ok, failed = 0, 0
for i = 2, #ARGV, 3 do
  redis.call("XADD", KEYS[1], "*", "row", ARGV[i])
  if ARGV[i + 1] == "ok" then
    ok = ok + 1
  else
    failed = failed + 1
    redis.call("HINCRBY", KEYS[3], ARGV[i + 2], 1)
  end
end
if ok > 0 then redis.call("HINCRBY", KEYS[2], "rowsOk", ok) end
if failed > 0 then redis.call("HINCRBY", KEYS[2], "rowsFailed", failed) end
redis.call("HSETNX", KEYS[2], "firstRowAt", ARGV[1])
redis.call("HSET", KEYS[2], "lastRowAt", ARGV[1])
return ok + failed
