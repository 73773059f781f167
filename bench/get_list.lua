-- wrk script: GET the URL given on the command line with one credential header from the environment
-- (BENCH_HEADER / BENCH_HEADER_VALUE), counting answers per wall-clock second for the peak rate.
local name, value = os.getenv("BENCH_HEADER"), os.getenv("BENCH_HEADER_VALUE")
if name and value then wrk.headers[name] = value end

local threads = {}

setup = function(thread)
  table.insert(threads, thread)
end

init = function(args)
  buckets = {}
  first, last = nil, nil
end

response = function(status, headers, body)
  local second = os.time()
  buckets[second] = (buckets[second] or 0) + 1
  if not first or second < first then first = second end
  if not last or second > last then last = second end
end

done = function(summary, latency, requests)
  -- Merge the threads' per-second counts; the first and last seconds are partial, so skip them.
  local merged, lo, hi = {}, nil, nil
  for _, thread in ipairs(threads) do
    local b, f, l = thread:get("buckets"), thread:get("first"), thread:get("last")
    if f and (not lo or f < lo) then lo = f end
    if l and (not hi or l > hi) then hi = l end
    for second, n in pairs(b or {}) do merged[second] = (merged[second] or 0) + n end
  end
  local peak = 0
  if lo and hi then
    for second = lo + 1, hi - 1 do
      if (merged[second] or 0) > peak then peak = merged[second] end
    end
  end
  io.write(string.format("BENCH rps=%.1f p50_ms=%.2f p99_ms=%.2f errors=%d non2xx=%d peak_rps=%d requests=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, peak, summary.requests))
end
