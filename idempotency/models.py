"""The `idempotency_keys` table: one row per (tenant, key) with its stored response.

In-flight locking needs no extra column: a key is claimed by inserting its row inside
the request's own transaction. Until that transaction ends, PostgreSQL holds the row
(and its unique-index entry) locked, so a concurrent request with the same key waits on
the INSERT; when the first commits, the waiter finds the stored response and replays it,
and when it rolls back or its process dies, the row never existed and the waiter takes
the key. A committed row therefore always carries a complete 2xx response.
"""

from django.db import models


class IdempotencyKey(models.Model):
    """A completed idempotent request and the response to replay for it."""

    tenant_id = models.CharField(max_length=64)
    key = models.CharField(max_length=255)
    # sha256 of method, path and canonical body (see idempotency.keys.fingerprint).
    fingerprint = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_headers = models.JSONField(default=dict)
    response_body = models.BinaryField(null=True, blank=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    class Meta:
        db_table = "idempotency_keys"
        constraints = [
            models.UniqueConstraint(
                fields=["tenant_id", "key"], name="idempotency_keys_tenant_key_uniq"
            ),
        ]
        indexes = [models.Index(fields=["expires_at"], name="idempotency_keys_expires_idx")]

    def __str__(self) -> str:
        return f"{self.tenant_id}/{self.key}"
