\set i :i + 1
\set n :base + :i * :clients + :client_id
\set key random(1, 9000000000000000000)
SELECT fingerprint, response_status, response_headers, response_body FROM idempotency_keys WHERE (tenant_id = :tenant AND expires_at > now() AND key = :key) LIMIT 1;
BEGIN;
INSERT INTO idempotency_keys (tenant_id, key, fingerprint, response_headers, created_at, expires_at) VALUES (:tenant, :key, :fingerprint, '{}', now(), now() + interval '1 day') ON CONFLICT (tenant_id, key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, response_status = NULL, response_headers = '{}', response_body = NULL, created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at WHERE idempotency_keys.expires_at <= EXCLUDED.created_at RETURNING id;
SELECT id, tenant_id, status, version, total_cents, created_at, updated_at, closed_at FROM orders WHERE (tenant_id = :tenant AND id = (SELECT id FROM bench_ids WHERE op = 'close' AND n = :n)) ORDER BY id ASC LIMIT 1 FOR UPDATE OF orders;
UPDATE orders SET version = (version + 1), status = 'closed', closed_at = now(), updated_at = now() WHERE (tenant_id = :tenant AND id = (SELECT id FROM bench_ids WHERE op = 'close' AND n = :n) AND status = 'confirmed' AND version = 2);
INSERT INTO outbox (id, tenant_id, aggregate_type, aggregate_id, event_type, payload, created_at, published_at, attempts, last_error, next_attempt_at, dead_at) VALUES (gen_random_uuid(), :tenant, 'order', (SELECT id FROM bench_ids WHERE op = 'close' AND n = :n), 'orders.closed', '{"orderId": "28ac8ab3-548c-4259-81a2-02f8c94bd74b", "tenantId": "load-1", "totalCents": 4200, "closedAt": "2026-11-26T07:21:53.964286Z"}'::jsonb, now(), NULL, 0, '', NULL, NULL);
UPDATE idempotency_keys SET response_status = 200, response_headers = '{"Content-Type": "application/json", "ETag": "\"3\""}'::jsonb, response_body = convert_to('{"id": "28ac8ab3-548c-4259-81a2-02f8c94bd74b","tenantId": "load-1","status": "closed","version": 3,"totalCents": 4200,"createdAt": "2026-11-26T07:21:53.937167Z","updatedAt": "2026-11-26T07:21:53.964286Z","closedAt": "2026-11-26T07:21:53.964286Z"}', 'UTF8') WHERE (tenant_id = :tenant AND key = :key);
COMMIT;
