-- Shared by every benchmark script: per-thread ids, fresh keys, a JSON summary.
-- Settings come from the environment the harness (benchmarks/run.py) sets:
--   BENCH_TENANT   X-Tenant-Id of every request
--   BENCH_IDS      a file with one "id version" line per order the script may use
--   BENCH_PATH     the path to request (list scripts)
--   BENCH_KEY      the fixed Idempotency-Key (replay)

local threads = {}
counter = 0 -- global: the scripts build keys with it

function setup(thread)
   thread:set("index", #threads)
   table.insert(threads, thread)
end

tenant = os.getenv("BENCH_TENANT") or "tenant-1"
ids = {}
versions = {}

function load_ids()
   local path = os.getenv("BENCH_IDS")
   if not path then return end
   for line in io.lines(path) do
      local id, version = line:match("^(%S+)%s+(%S+)$")
      table.insert(ids, id)
      table.insert(versions, version)
   end
end

function init(args)
   load_ids()
   thread_count = tonumber(os.getenv("BENCH_WRK_THREADS") or "1")
   math.randomseed(os.time() * 1000 + index)
   -- Process-unique prefix: keys never repeat across threads or runs.
   prefix = string.format("bench-%d-%d-%d-", os.time(), index, math.random(1, 1e9))
end

-- Orders a thread may consume: thread i takes ids i+1, i+1+T, i+1+2T, ... once each.
function next_own()
   local position = index + 1 + counter * thread_count
   counter = counter + 1
   if position > #ids then
      position = ((position - 1) % #ids) + 1 -- exhausted: reused, the harness reports it
   end
   return ids[position], versions[position]
end

function fresh_key()
   counter = counter + 1
   return prefix .. counter
end

function random_order()
   local position = math.random(1, #ids)
   return ids[position], versions[position]
end

function done(summary, latency, requests)
   local errors = summary.errors
   io.write(string.format(
      'BENCH-JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, ' ..
      '"mean_us": %.1f, "max_us": %d, "errors_status": %d, "errors_connect": %d, ' ..
      '"errors_read": %d, "errors_write": %d, "errors_timeout": %d}\n',
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency.mean, latency.max, errors.status, errors.connect,
      errors.read, errors.write, errors.timeout))
end
