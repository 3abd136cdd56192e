-- POST /orders with a fresh Idempotency-Key every time.
dofile("common.lua")

function request()
   return wrk.format("POST", "/orders", {
      ["X-Tenant-Id"] = tenant,
      ["Content-Type"] = "application/json",
      ["Idempotency-Key"] = fresh_key(),
   }, "{}")
end
