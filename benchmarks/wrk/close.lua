-- POST /orders/{id}/close on a confirmed order no other request touches, with a fresh key.
dofile("common.lua")

function request()
   local id, version = next_own()
   return wrk.format("POST", "/orders/" .. id .. "/close", {
      ["X-Tenant-Id"] = tenant,
      ["If-Match"] = '"' .. version .. '"',
      ["Idempotency-Key"] = prefix .. "x" .. counter,
   })
end
