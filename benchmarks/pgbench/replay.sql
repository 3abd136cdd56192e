SELECT fingerprint, response_status, response_headers, response_body FROM idempotency_keys WHERE (tenant_id = :tenant AND expires_at > now() AND key = :replaykey) LIMIT 1;
