-- PATCH /orders/{id}/confirm on a draft no other request touches, with a fresh key.
dofile("common.lua")

function request()
   local id, version = next_own()
   return wrk.format("PATCH", "/orders/" .. id .. "/confirm", {
      ["X-Tenant-Id"] = tenant,
      ["Content-Type"] = "application/json",
      ["If-Match"] = '"' .. version .. '"',
      ["Idempotency-Key"] = prefix .. "c" .. counter,
   }, '{"totalCents": 4200}')
end
