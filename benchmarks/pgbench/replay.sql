SELECT fingerprint, response_status, response_headers, response_body FROM idempotency_keys WHERE tenant_id = :tenant AND key = :replaykey AND expires_at > now();
