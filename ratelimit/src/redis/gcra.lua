-- GCRA on the server's clock: one key per limiter key, holding its TAT.
-- KEYS[1]  the limiter key
-- ARGV[1]  emission interval T, microseconds (may carry a fraction)
-- ARGV[2]  burst window W = burst x T, microseconds
-- ARGV[3]  cells asked for, n (0 <= n <= burst)
-- Reply: { admitted (1/0), retry_after_us, remaining, reset_after_us }
-- Times are microseconds since the Unix epoch as Lua numbers (doubles,
-- exact to 2^53 us); the TAT is written with 3 decimals so fractional
-- intervals do not drift.
if redis.replicate_commands then
  -- Redis 5 and 6: TIME in a script needs effects replication (a no-op on 7).
  redis.replicate_commands()
end
local interval = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now) or now
if tat < now then
  tat = now
end
-- 1e-6: a float quotient just under a whole number counts as that number.
local function cells_left(used)
  local free = math.floor((window - used) / interval + 1e-6)
  if free < 0 then
    return 0
  end
  return free
end
local next = tat + n * interval
local allow_at = next - window
if allow_at <= now then
  if n > 0 then
    -- The key expires when its TAT passes: an idle key reads as fresh.
    local ttl = math.max(1, math.ceil((next - now) / 1000))
    redis.call('SET', KEYS[1], string.format('%.3f', next), 'PX', ttl)
  end
  return { 1, 0, cells_left(next - now), math.ceil(next - now) }
end
return { 0, math.ceil(allow_at - now), cells_left(tat - now), math.ceil(tat - now) }
