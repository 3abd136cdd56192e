-- GET BENCH_PATH: the first page (/orders?limit=20) or a deep one (with a cursor).
dofile("common.lua")

local path = os.getenv("BENCH_PATH")

function request()
   return wrk.format("GET", path, {["X-Tenant-Id"] = tenant})
end
