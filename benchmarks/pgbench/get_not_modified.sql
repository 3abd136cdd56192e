\set n random(1, :nget)
SELECT id, tenant_id, status, version, total_cents, created_at, updated_at, closed_at FROM orders WHERE tenant_id = :tenant AND id = (SELECT id FROM bench_ids WHERE op = 'get' AND n = :n);
