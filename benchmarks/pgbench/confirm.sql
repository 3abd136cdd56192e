\set i :i + 1
\set n 1 + (:base + :i * :clients + :client_id) % :nconfirm
\set key random(1, 9000000000000000000)
SELECT fingerprint, response_status, response_headers, response_body FROM idempotency_keys WHERE tenant_id = :tenant AND key = :key AND expires_at > now();
BEGIN;
INSERT INTO idempotency_keys (tenant_id, key, fingerprint, response_headers, created_at, expires_at) VALUES (:tenant, :key, :fingerprint, '{}', now(), now() + interval '1 day') ON CONFLICT (tenant_id, key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, response_status = NULL, response_headers = '{}', response_body = NULL, created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at WHERE idempotency_keys.expires_at <= EXCLUDED.created_at RETURNING id;
SELECT id, tenant_id, status, version, total_cents, created_at, updated_at, closed_at FROM orders WHERE (id = (SELECT id FROM bench_ids WHERE op = 'confirm' AND n = :n) AND tenant_id = :tenant) LIMIT 21 FOR UPDATE OF orders;
UPDATE orders SET version = (version + 1), status = 'confirmed', total_cents = 4200, updated_at = now() WHERE (id = (SELECT id FROM bench_ids WHERE op = 'confirm' AND n = :n) AND status = 'draft' AND tenant_id = :tenant AND version = 1);
UPDATE idempotency_keys SET response_status = 200, response_headers = '{"Content-Type": "application/json", "ETag": "\"2\""}'::jsonb, response_body = '\x7b226964223a2232386163386162332d353438632d343235392d383161322d303266386339346264373462222c2274656e616e744964223a226c6f61642d31222c22737461747573223a22636f6e6669726d6564222c2276657273696f6e223a322c22746f74616c43656e7473223a343230302c22637265617465644174223a22323032362d31312d32365430373a32313a35332e3933373136375a222c22757064617465644174223a22323032362d31312d32365430373a32313a35332e3936343238365a222c22636c6f7365644174223a6e756c6c7d'::bytea WHERE tenant_id = :tenant AND key = :key;
COMMIT;
