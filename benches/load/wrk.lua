-- wrk script of the load harness. Sends GET to the URL's path with the Authorization header
-- rotating over the tokens in the file named by the first script argument ("-" for none), and
-- prints one "BENCH {json}" line with what the harness checks against the server's counters.
-- Every request is prepared in init(), so rotating 500 keys costs wrk no more than one.

local requests = {}
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local path = args[1]
  if path and path ~= "-" then
    for line in io.lines(path) do
      if #line > 0 then
        requests[#requests + 1] = wrk.format("GET", nil, { Authorization = "Bearer " .. line })
      end
    end
  end
  if #requests == 0 then
    requests[1] = wrk.format("GET")
  end
  next_request = 0
  sent = 0
  answered = 0
  ok = 0
  metered_ok = 0
end

function request()
  sent = sent + 1
  next_request = next_request % #requests + 1
  return requests[next_request]
end

function response(status, headers, body)
  answered = answered + 1
  if status >= 200 and status < 300 then
    ok = ok + 1
    -- Only a request counted against an API key carries the daily limit headers.
    if headers["x-ratelimit-limit"] or headers["X-RateLimit-Limit"] then
      metered_ok = metered_ok + 1
    end
  end
end

function done(summary, latency, _)
  local totals = { sent = 0, answered = 0, ok = 0, metered_ok = 0 }
  for _, thread in ipairs(threads) do
    for name, value in pairs(totals) do
      totals[name] = value + thread:get(name)
    end
  end
  local errors = summary.errors
  io.write(string.format(
    'BENCH {"sent":%d,"answered":%d,"ok":%d,"metered_ok":%d,"duration_us":%d,' ..
    '"p50_us":%d,"p99_us":%d,"socket_errors":%d}\n',
    totals.sent, totals.answered, totals.ok, totals.metered_ok, summary.duration,
    math.floor(latency:percentile(50)), math.floor(latency:percentile(99)),
    errors.connect + errors.read + errors.write + errors.timeout))
end
