-- wrk script of bench/http_bench.py: the mixed citizen load, or the bare baseline.
--
--   wrk -t 2 -c 16 -d 20s --timeout 10s -s bench/mixed.lua http://127.0.0.1:PORT -- \
--       mixed TOKENS_FILE REWARD_IDS MIX TRIP_BASE KEY_PREFIX THREADS
--   wrk -t 2 -c 16 -d 20s --timeout 10s -s bench/mixed.lua http://127.0.0.1:PORT -- bare
--
-- mixed: every request is one of the kinds in MIX ("account:30,entries:20,..."; weights in
-- percent), drawn at random, as a random citizen (TOKENS_FILE: one access token per line),
-- except behaviours, which go round the citizens so that each citizen's trips are spaced:
-- behaviour number g (unique over all threads) is citizen g % #tokens's trip number
-- g // #tokens, a 20-minute metro trip ending TRIP_BASE - 2 h × (g // #tokens). So no two
-- trips of a citizen overlap (no duplicates) and a citizen reports at most 12 trips per
-- local day (below the plausibility limit of 20 and the daily cap). Redemptions pick a random
-- reward of REWARD_IDS ("3,4,5"). Idempotency-Keys start with KEY_PREFIX, unique per run.
-- bare: POST /transfer, the endpoint of bench/bare_app.py.
--
-- wrk is closed-loop: each connection sends its next request when the previous answer has
-- arrived, so this measures peak throughput; latencies here are those of a saturated server.
-- At the end the script prints lines for http_bench.py: RESULT, STATUS, KIND and SAMPLE
-- (the first few non-2xx answers of each thread).

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

local kinds = {}        -- {name, cumulative fraction}
local tokens = {}
local rewards = {}
local base, prefix, nthreads
statuses = {}           -- globals: read by done() through thread:get
sent = {}
samples = {}
local n, nb = 0, 0

function init(args)
  mode = args[1]
  if mode == "bare" then
    return
  end
  for line in io.lines(args[2]) do
    if #line > 0 then
      tokens[#tokens + 1] = line
    end
  end
  for r in string.gmatch(args[3], "%d+") do
    rewards[#rewards + 1] = r
  end
  local total = 0
  for name, weight in string.gmatch(args[4], "(%a+):(%d+)") do
    total = total + tonumber(weight)
    kinds[#kinds + 1] = {name, total}
  end
  for _, k in ipairs(kinds) do
    k[2] = k[2] / total
  end
  base = tonumber(args[5])
  prefix = args[6]
  nthreads = tonumber(args[7])
  math.randomseed(os.time() * 1000 + id)
end

local function auth(token)
  return {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}
end

local function iso(t)
  return os.date("!%Y-%m-%dT%H:%M:%SZ", t)
end

local function pick()
  local x = math.random()
  for _, k in ipairs(kinds) do
    if x < k[2] then
      return k[1]
    end
  end
  return kinds[#kinds][1]
end

request = function()
  if mode == "bare" then
    sent.bare = (sent.bare or 0) + 1
    return wrk.format("POST", "/transfer", {["Content-Type"] = "application/json"}, "{}")
  end
  n = n + 1
  local kind = pick()
  sent[kind] = (sent[kind] or 0) + 1
  if kind == "behaviour" then
    local g = nb * nthreads + id
    nb = nb + 1
    local e = base - math.floor(g / #tokens) * 7200
    local body = '{"methodology":"green_travel","occurred_at":"' .. iso(e) .. '",' ..
      '"data":{"mode":"metro","started_at":"' .. iso(e - 1200) .. '","ended_at":"' .. iso(e) ..
      '","start":{"lat":32.0,"lon":118.8},"end":{"lat":32.05,"lon":118.8}}}'
    local headers = auth(tokens[(g % #tokens) + 1])
    headers["Idempotency-Key"] = prefix .. "-b-" .. id .. "-" .. n
    return wrk.format("POST", "/api/v1/behaviours", headers, body)
  end
  local headers = auth(tokens[math.random(#tokens)])
  if kind == "redemption" then
    headers["Idempotency-Key"] = prefix .. "-r-" .. id .. "-" .. n
    return wrk.format("POST", "/api/v1/rewards/" .. rewards[math.random(#rewards)] ..
      "/redemptions", headers)
  elseif kind == "account" then
    return wrk.format("GET", "/api/v1/account", headers)
  elseif kind == "entries" then
    return wrk.format("GET", "/api/v1/account/entries", headers)
  else
    return wrk.format("GET", "/api/v1/rewards", headers)
  end
end

response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if (status < 200 or status > 299) and #samples < 5 then
    samples[#samples + 1] = status .. " " .. string.gsub(string.sub(body or "", 1, 400),
                                                          "%s+", " ")
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT requests=%d duration_us=%d p50=%d p95=%d p99=%d max=%d " ..
    "connect=%d read=%d write=%d timeout=%d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.timeout))
  local all_statuses, all_sent = {}, {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("statuses")) do
      all_statuses[k] = (all_statuses[k] or 0) + v
    end
    for k, v in pairs(t:get("sent")) do
      all_sent[k] = (all_sent[k] or 0) + v
    end
    for _, s in ipairs(t:get("samples")) do
      io.write("SAMPLE " .. s .. "\n")
    end
  end
  for k, v in pairs(all_statuses) do
    io.write(string.format("STATUS %d %d\n", k, v))
  end
  for k, v in pairs(all_sent) do
    io.write(string.format("KIND %s %d\n", k, v))
  end
end
