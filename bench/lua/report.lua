-- Shared by every scenario script: thread numbering (setup) and one JSON line with the
-- figures bench/run reads (done). Latencies are in microseconds.
local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  thread:set("nthreads", tonumber(os.getenv("BENCH_THREADS") or "1"))
  counter = counter + 1
  table.insert(threads, thread)
end

function done(summary, latency, requests)
  local e = summary.errors
  local exhausted = 0
  for _, t in ipairs(threads) do
    exhausted = exhausted + (t:get("exhausted") or 0)
  end
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f},"exhausted":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    exhausted))
end

-- Lines of a file, this thread's share (every nthreads-th line from tid).
function my_lines(path)
  local out, i = {}, 0
  for line in io.lines(path) do
    if line ~= "" then
      if i % nthreads == tid then table.insert(out, line) end
      i = i + 1
    end
  end
  return out
end
