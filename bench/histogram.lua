-- wrk script for bench/run's PostgreSQL phases: bench/requests.lua (same BENCH_* variables,
-- same RESULT line), and, when BENCH_HISTOGRAM names a file, wrk's whole latency histogram
-- written there as "MICROSECONDS COUNT" lines. wrk keeps one count per microsecond, so the
-- histograms of two wrk processes added together give the exact percentiles of all their
-- requests, computed as wrk computes its own (bench/run, merged_percentile).

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "bench/"
dofile(here .. "requests.lua")

local requests_done = done

function done(summary, latency, requests)
  requests_done(summary, latency, requests)
  local path = os.getenv("BENCH_HISTOGRAM")
  if path then
    local file = assert(io.open(path, "w"))
    for i = 1, #latency do
      local value, count = latency(i)
      file:write(string.format("%d %d\n", value, count))
    end
    file:close()
  end
end
