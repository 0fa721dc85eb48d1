-- wrk script: POST a signed GitHub delivery. The body and its signature are
-- fixed (GitHub signs the body only); the delivery id is unique per request,
-- so deduplicating routes forward every request instead of answering
-- "duplicate".
--   BODY_FILE=... SIGNATURE=sha256=... wrk -s post.lua URL

local body_file = os.getenv("BODY_FILE")
local signature = os.getenv("SIGNATURE") or ""
local f = assert(io.open(body_file, "rb"))
local body = f:read("*a")
f:close()

-- `thread_id`, `counter` and `failures` are deliberately globals: wrk's
-- thread:set()/thread:get() read and write a thread's *globals*, and a file
-- level `local` would shadow them (every thread would then reuse the same
-- ids, and deduplicating routes would answer "duplicate").
local threads = {}

function setup(thread)
  thread:set("thread_id", #threads + 1)
  table.insert(threads, thread)
end

counter = 0
failures = 0
-- One prefix per wrk run, so ids never repeat across runs against the same
-- Redis either.
run_started = os.time()

function init(args)
  wrk.method = "POST"
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["X-GitHub-Event"] = "push"
  wrk.headers["X-Hub-Signature-256"] = signature
end

function request()
  counter = counter + 1
  wrk.headers["X-GitHub-Delivery"] = string.format("load-%d-%d-%d", run_started, thread_id, counter)
  return wrk.format()
end

function response(status, headers, body)
  if status ~= 200 then
    failures = failures + 1
  end
end

function done(summary, latency, requests)
  local non200 = 0
  for _, thread in ipairs(threads) do
    non200 = non200 + (thread:get("failures") or 0)
  end
  io.write(string.format("RESULT rps=%.1f p50_ms=%.3f p99_ms=%.3f requests=%d errors=%d non200=%d (connect %d, read %d, write %d, timeout %d)\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.requests,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout + summary.errors.status,
    non200,
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout))
end
