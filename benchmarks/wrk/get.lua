-- GET /orders/{id} of a random existing order.
dofile("common.lua")

function request()
   local id = random_order()
   return wrk.format("GET", "/orders/" .. id, {["X-Tenant-Id"] = tenant})
end
