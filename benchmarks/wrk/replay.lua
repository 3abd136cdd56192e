-- POST /orders again and again with one key that already completed: a replay each time.
dofile("common.lua")

local key = os.getenv("BENCH_KEY")

function request()
   return wrk.format("POST", "/orders", {
      ["X-Tenant-Id"] = tenant,
      ["Content-Type"] = "application/json",
      ["Idempotency-Key"] = key,
   }, "{}")
end
