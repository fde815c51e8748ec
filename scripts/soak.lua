-- wrk script for scripts/soak.sh: a mix of frame PNGs, index JSON, DICOMweb reads and
-- STOW uploads against one segweb. Environment (set by soak.sh):
--   SOAK_FILES   space-separated corpus names under /files/ ("name:frames ...")
--   SOAK_STORE   space-separated stored instance URLs ("url:frames ...")
--   SOAK_UPLOAD  a multipart body file to POST to /studies (identical bytes: idempotent)
--   SOAK_CT      its Content-Type
local files, store = {}, {}
for item in string.gmatch(os.getenv("SOAK_FILES") or "", "%S+") do
  local name, n = string.match(item, "([^:]+):(%d+)")
  files[#files + 1] = {name = name, frames = tonumber(n)}
end
for item in string.gmatch(os.getenv("SOAK_STORE") or "", "%S+") do
  local url, n = string.match(item, "(.+):(%d+)")
  store[#store + 1] = {url = url, frames = tonumber(n)}
end
local upload, upload_ct = nil, os.getenv("SOAK_CT")
local path = os.getenv("SOAK_UPLOAD")
if path and path ~= "" then
  local f = io.open(path, "rb")
  upload = f:read("*a")
  f:close()
end

local threads = {}
function setup(thread)
  thread:set("id", #threads + 1)
  threads[#threads + 1] = thread
end

function init(args)
  math.randomseed(id * 7919)
  counts = {}
  kinds = {}
end

local kind
local function pick()
  local r = math.random(100)
  if r <= 55 and #files > 0 then
    local f = files[math.random(#files)]
    kind = "frame"
    local style = (math.random(4) == 1) and "?style=color" or ""
    return wrk.format("GET", "/files/" .. f.name .. "/frames/" .. math.random(f.frames) .. "/rendered" .. style)
  elseif r <= 75 and #files > 0 then
    local f = files[math.random(#files)]
    kind = "json"
    return wrk.format("GET", "/files/" .. f.name .. "/segments", {["Accept-Encoding"] = "gzip"})
  elseif r <= 93 and #store > 0 then
    local s = store[math.random(#store)]
    if math.random(3) == 1 then
      kind = "store_metadata"
      return wrk.format("GET", s.url .. "/metadata")
    end
    kind = "store_frame"
    return wrk.format("GET", s.url .. "/frames/" .. math.random(s.frames) .. "/rendered")
  elseif upload then
    kind = "upload"
    return wrk.format("POST", "/studies", {["Content-Type"] = upload_ct}, upload)
  end
  kind = "health"
  return wrk.format("GET", "/healthz")
end

function request()
  local req = pick()
  kinds[kind] = (kinds[kind] or 0) + 1
  return req
end

function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
end

function done(summary, latency, requests)
  local total, k = {}, {}
  for _, t in ipairs(threads) do
    for s, n in pairs(t:get("counts")) do total[s] = (total[s] or 0) + n end
    for s, n in pairs(t:get("kinds")) do k[s] = (k[s] or 0) + n end
  end
  local line = "soak: status counts:"
  local fivexx = 0
  for s, n in pairs(total) do
    line = line .. " " .. s .. "=" .. n
    if s >= 500 and s ~= 503 then fivexx = fivexx + n end
  end
  print(line)
  local kl = "soak: request mix:"
  for s, n in pairs(k) do kl = kl .. " " .. s .. "=" .. n end
  print(kl)
  print("soak: 5xx other than 503: " .. fivexx)
  print(string.format("soak: latency p50 %.2f ms, p99 %.2f ms, max %.2f ms",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
