-- wrk script: GET a random frame of one object per request (keep-alive).
-- Environment: BENCH_PREFIX  path before the frame number, e.g.
--                 /files/big.dcm/frames/   or   /instances/<id>/frames/
--              BENCH_SUFFIX  path after it, e.g. /rendered  or /preview
--              BENCH_FRAMES  number of frames N (frames 1..N; Orthanc's preview
--                            is 0-based, so BENCH_BASE=0 there)
--              BENCH_BASE    first frame number (default 1)
local prefix = os.getenv("BENCH_PREFIX")
local suffix = os.getenv("BENCH_SUFFIX") or ""
local nframes = tonumber(os.getenv("BENCH_FRAMES"))
local base = tonumber(os.getenv("BENCH_BASE") or "1")
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("seed", counter)
end

function init(args)
  math.randomseed(os.time() * 1000 + (seed or 0))
end

function request()
  local f = math.random(0, nframes - 1) + base
  return wrk.format("GET", prefix .. f .. suffix)
end

function done(summary, latency, requests)
  -- one machine-readable line for bench/run.sh
  io.stderr:write(string.format(
    "WRKJSON {\"requests\":%d,\"duration_us\":%d,\"rps\":%.1f,\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,\"errors_status\":%d,\"errors_connect\":%d,\"errors_read\":%d,\"errors_timeout\":%d}\n",
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, summary.errors.status, summary.errors.connect, summary.errors.read,
    summary.errors.timeout))
end
