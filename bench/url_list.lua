-- wrk script: GET the URLs of a file (one per line, env BENCH_URLS) in turn, each thread
-- from its own offset (keep-alive). Prints one machine-readable line at the end.
local urls = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("offset", counter * 7)
end

function init(args)
  for line in io.lines(os.getenv("BENCH_URLS")) do
    urls[#urls + 1] = line
  end
  i = offset or 0
end

function request()
  i = i + 1
  return wrk.format("GET", urls[(i % #urls) + 1])
end

function done(summary, latency, requests)
  io.stderr:write(string.format("BENCH requests=%d errors=%d seconds=%.3f p50_ms=%.3f p99_ms=%.3f\n",
    summary.requests, summary.errors.status + summary.errors.connect + summary.errors.read +
    summary.errors.write + summary.errors.timeout, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
