-- wrk script shared by every phase of bench/run.
-- BENCH_TARGETS: a file with one "PATH TOKEN" line per account (TOKEN may be "-" for none);
--   requests rotate over the lines, so many accounts and sessions are exercised.
-- BENCH_METHOD: GET (default), PATCH or POST.
-- BENCH_BODY: request body; every "%N" becomes a per-request counter, every "%I" the line's
--   index (1-based), so bodies differ from request to request.
-- BENCH_BODIES: a file with one body per line of BENCH_TARGETS, sent with that line (in place
--   of BENCH_BODY).
-- BENCH_AUTH: prefix of the Authorization header (default "Bearer ").
-- BENCH_FORWARDED_FOR: an X-Forwarded-For header to send (the server trusts it from a
--   proxy in `server.trusted_proxies`), so that one wrk stands for one client elsewhere.
-- done() prints one machine-readable RESULT line that bench/run parses.

local targets = {}
local method = os.getenv("BENCH_METHOD") or "GET"
local body = os.getenv("BENCH_BODY")
local bodies = nil
local auth = os.getenv("BENCH_AUTH") or "Bearer "
local forwarded_for = os.getenv("BENCH_FORWARDED_FOR")
local counter = 0
local thread_no = 0
local threads = {}

function setup(thread)
  thread_no = thread_no + 1
  thread:set("offset", thread_no * 7919)
  table.insert(threads, thread)
end

function init(args)
  for line in io.lines(os.getenv("BENCH_TARGETS")) do
    local path, token = line:match("^(%S+)%s+(%S+)$")
    if path then
      table.insert(targets, { path = path, token = token })
    end
  end
  counter = offset or 0
  local bodies_file = os.getenv("BENCH_BODIES")
  if bodies_file then
    bodies = {}
    for line in io.lines(bodies_file) do
      table.insert(bodies, line)
    end
  end
end

function request()
  counter = counter + 1
  local index = counter % #targets + 1
  local target = targets[index]
  local headers = {}
  if forwarded_for then
    headers["X-Forwarded-For"] = forwarded_for
  end
  if target.token ~= "-" then
    headers["Authorization"] = auth .. target.token
  end
  local payload = nil
  if bodies then
    headers["Content-Type"] = "application/json"
    payload = bodies[index]
  elseif body then
    headers["Content-Type"] = "application/json"
    payload = body:gsub("%%N", tostring(counter)):gsub("%%I", tostring(index))
  end
  return wrk.format(method, target.path, headers, payload)
end

function done(summary, latency, requests)
  local ok = summary.requests - summary.errors.status
  io.write(string.format(
    "RESULT requests=%d ok=%d non2xx=%d socket_errors=%d seconds=%.3f rps=%.1f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f\n",
    summary.requests, ok, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
