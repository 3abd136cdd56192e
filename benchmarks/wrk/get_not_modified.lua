-- GET /orders/{id} with If-None-Match naming its current version: 304 every time.
dofile("common.lua")

function request()
   local id, version = random_order()
   return wrk.format("GET", "/orders/" .. id, {
      ["X-Tenant-Id"] = tenant,
      ["If-None-Match"] = '"' .. version .. '"',
   })
end
