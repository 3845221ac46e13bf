"""The two Lua scripts behind pot_worker.limits: reserve a batch's limits, release reservations.

Kept apart so the Limiter's Python reads on its own; `Limiter` registers both at construction.
"""

# One call reserves for a whole batch of jobs, each all or nothing, in order, exactly as one script
# call per job would; counters are listed once however many jobs share them, which is what makes a
# batch cheap. KEYS: the epoch, then per campaign its day and hour counters, per domain its hour
# counter, per mailbox its day and hour counters and last reservation time. ARGV: 1 now (us), 2 day
# TTL, 3 hour TTL, 4 the epoch the key names carry, 5 "campaigns domains mailboxes", 6 campaign limits
# "day hour ...", 7 domain limits, 8 mailbox limits "day hour spacing_us ...", then one per job:
# "campaign domain mailbox mailbox ..." (1-based positions in those lists; candidates in order).
# A limit below 0 means none. Returns {1, epoch, then per job: status, level or mailbox, detail}.
RESERVE = r"""
local epoch = redis.call('GET', KEYS[1])
if not epoch then return {-1, 'reconcile'} end
if epoch ~= ARGV[4] then return {-2, epoch} end
local now = tonumber(ARGV[1])
local day_ttl, hour_ttl = tonumber(ARGV[2]), tonumber(ARGV[3])
local function nums(s)
  local t = {}
  for n in string.gmatch(s, '%-?%d+') do t[#t + 1] = tonumber(n) end
  return t
end
local sizes = nums(ARGV[5])
local climits, dlimits, mlimits = nums(ARGV[6]), nums(ARGV[7]), nums(ARGV[8])
local dbase = 1 + 2 * sizes[1]
local mbase = dbase + sizes[2]
local values = {}
local function get(i)
  local v = values[i]
  if v == nil then
    v = tonumber(redis.call('GET', KEYS[i]) or '-1')
    values[i] = v
  end
  return v
end
local function full(i, limit)
  if limit < 0 then return false end
  return math.max(get(i), 0) + 1 > limit
end
local function bump(i, ttl)
  values[i] = math.max(get(i), 0) + 1
  redis.call('INCR', KEYS[i])
  redis.call('EXPIRE', KEYS[i], ttl)
end
local out = {1, epoch}
for j = 9, #ARGV do
  local spec = nums(ARGV[j])
  local c, d = spec[1], spec[2]
  local cday, chour, dhour = 2 * c, 2 * c + 1, dbase + d
  local status, first, second = 0, '', ''
  if full(cday, climits[2 * c - 1]) then first, second = 'campaign', 'day'
  elseif full(chour, climits[2 * c]) then first, second = 'campaign', 'hour'
  elseif full(dhour, dlimits[d]) then first, second = 'domain', 'hour'
  else
    local chosen, wait = 0, -1
    for k = 3, #spec do
      local m = spec[k]
      local key = mbase + 3 * (m - 1)
      if not full(key + 1, mlimits[3 * m - 2]) and not full(key + 2, mlimits[3 * m - 1]) then
        local spacing = mlimits[3 * m]
        local left = 0
        if spacing > 0 then
          local last = get(key + 3)
          if last >= 0 then left = last + spacing - now end
        end
        if left <= 0 then chosen = m break end
        if wait < 0 or left < wait then wait = left end
      end
    end
    if chosen == 0 then
      first, second = 'inbox', tostring(wait)
    else
      local key = mbase + 3 * (chosen - 1)
      bump(cday, day_ttl) bump(key + 1, day_ttl)
      bump(chour, hour_ttl) bump(dhour, hour_ttl) bump(key + 2, hour_ttl)
      redis.call('SET', KEYS[key + 3], ARGV[1], 'EX', day_ttl)
      values[key + 3] = now
      status, first = 1, tostring(chosen)
    end
  end
  out[#out + 1] = status
  out[#out + 1] = first
  out[#out + 1] = second
end
return out
"""

# KEYS: the epoch key, then five counters per reservation; ARGV: each reservation's epoch. A reservation
# from an older epoch is skipped: the counters it touched were rebuilt from Postgres since.
RELEASE = r"""
local current = redis.call('GET', KEYS[1])
local released = 0
for r = 1, #ARGV do
  if ARGV[r] == current then
    for i = 2 + 5 * (r - 1), 1 + 5 * r do
      if tonumber(redis.call('GET', KEYS[i]) or '0') > 0 then redis.call('DECR', KEYS[i]) end
    end
    released = released + 1
  end
end
return released
"""
