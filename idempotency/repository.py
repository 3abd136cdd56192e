"""IdempotencyKeyRepository: the `idempotency_keys` rows of one tenant; never commits."""

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import connection
from django.utils import timezone
from psycopg.types.json import Jsonb

from idempotency.models import IdempotencyKey


@dataclass(frozen=True)
class StoredResponse:
    """A 2xx response exactly as it was sent: replayed byte for byte."""

    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class KeyRecord:
    """A live (unexpired) key with the fingerprint of the request that used it."""

    fingerprint: str
    response: StoredResponse


# Hand-written: the ORM cannot say INSERT … ON CONFLICT … DO UPDATE … WHERE (take the key
# over only when it has expired).
_CLAIM = """
INSERT INTO idempotency_keys
    (tenant_id, key, fingerprint, response_headers, created_at, expires_at)
VALUES (%s, %s, %s, '{}', %s, %s)
ON CONFLICT (tenant_id, key) DO UPDATE
    SET fingerprint = EXCLUDED.fingerprint,
        response_status = NULL,
        response_headers = '{}',
        response_body = NULL,
        created_at = EXCLUDED.created_at,
        expires_at = EXCLUDED.expires_at
    WHERE idempotency_keys.expires_at <= EXCLUDED.created_at
RETURNING id
"""


class IdempotencyKeyRepository:
    """Claims, reads and completes keys of one tenant."""

    def __init__(self, *, tenant_id: str) -> None:
        self.tenant_id = tenant_id

    def find_live(self, key: str) -> KeyRecord | None:
        """The committed, unexpired record of `key`, if any."""
        # Plain SQL: every keyed request starts with this lookup (a replay is nothing
        # else), at a fraction of the QuerySet's CPU (docs/DECISIONS.md). No ORDER BY:
        # (tenant_id, key) is unique, and with one a prepared statement's generic plan
        # could walk the primary key instead of the unique index.
        with connection.cursor() as cursor:
            cursor.execute(
                """
                SELECT fingerprint, response_status, response_headers, response_body
                FROM idempotency_keys
                WHERE tenant_id = %s AND key = %s AND expires_at > %s
                """,
                [self.tenant_id, key, timezone.now()],
            )
            row = cursor.fetchone()
        if row is None:
            return None
        fingerprint, status, headers, body = row
        return KeyRecord(
            fingerprint=fingerprint,
            # Django's connection hands jsonb over as text (JSONField decodes it).
            response=StoredResponse(
                status=status,
                headers=json.loads(headers) if isinstance(headers, str) else headers,
                body=bytes(body),
            ),
        )

    def claim(self, key: str, *, fingerprint: str, ttl: timedelta) -> bool:
        """Insert the key's row (or take over an expired one) in the open transaction.

        Blocks while another transaction holds the same key, up to lock_timeout.
        True when this transaction now owns the key; False when a live record exists.
        """
        now = timezone.now()
        with connection.cursor() as cursor:
            cursor.execute(_CLAIM, [self.tenant_id, key, fingerprint, now, now + ttl])
            return cursor.fetchone() is not None

    def complete(self, key: str, response: StoredResponse) -> None:
        """Store the response of the request that owns `key`."""
        # Plain SQL, as the lookup: every keyed write ends with it (docs/DECISIONS.md).
        # (Jsonb: what JSONField sends for a jsonb column.)
        values: list[Any] = [
            response.status,
            Jsonb(response.headers),
            response.body,
            self.tenant_id,
            key,
        ]
        with connection.cursor() as cursor:
            cursor.execute(
                """
                UPDATE idempotency_keys
                SET response_status = %s, response_headers = %s, response_body = %s
                WHERE tenant_id = %s AND key = %s
                """,
                values,
            )


def purge_expired(*, batch_size: int) -> int:
    """Delete one batch of expired keys, of every tenant; returns how many went."""
    now = timezone.now()
    # Oldest first, from the expiry index: each batch reads only the rows it deletes.
    expired = (
        IdempotencyKey.objects.filter(expires_at__lte=now)
        .order_by("expires_at")
        .values("pk")[:batch_size]
    )
    # The outer condition is re-checked on rows a concurrent claim has just taken over
    # (and made live again), so such a row is skipped rather than deleted.
    deleted, _ = IdempotencyKey.objects.filter(pk__in=expired, expires_at__lte=now).delete()
    return deleted
