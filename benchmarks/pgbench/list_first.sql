SELECT id, tenant_id, status, version, total_cents, created_at, updated_at, closed_at FROM orders WHERE tenant_id = :deeptenant ORDER BY created_at DESC, id DESC LIMIT 21;
