"""IdempotencyKeyRepository: the `idempotency_keys` rows of one tenant; never commits."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection
from django.utils import timezone

from idempotency.models import IdempotencyKey
from orders_project.db.compiled import CompiledQuery


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


# The only interpolation is our own table name.
_CLAIM = f"""
INSERT INTO {IdempotencyKey._meta.db_table}
    (tenant_id, key, fingerprint, response_headers, created_at, expires_at)
VALUES (%s, %s, %s, '{{}}', %s, %s)
ON CONFLICT (tenant_id, key) DO UPDATE
    SET fingerprint = EXCLUDED.fingerprint,
        response_status = NULL,
        response_headers = '{{}}',
        response_body = NULL,
        created_at = EXCLUDED.created_at,
        expires_at = EXCLUDED.expires_at
    WHERE {IdempotencyKey._meta.db_table}.expires_at <= EXCLUDED.created_at
RETURNING id
"""  # noqa: S608

# The stored response, written by the request that owns the key. Sent as SQL of our own
# (like _CLAIM) because building this UPDATE through the ORM was a fifth of a create's
# Python CPU; the values still go through the fields' own adaptation (_prepared).
_COMPLETE = f"""
UPDATE {IdempotencyKey._meta.db_table}
SET response_status = %s, response_headers = %s, response_body = %s
WHERE tenant_id = %s AND key = %s
"""  # noqa: S608
_RESPONSE_FIELDS = [
    IdempotencyKey._meta.get_field(name)
    for name in ("response_status", "response_headers", "response_body")
]


def _keys_of(tenant_id: str) -> Any:
    return IdempotencyKey.objects.filter(tenant_id=tenant_id)


# Every keyed request starts with this lookup (a replay is nothing else), so it is
# compiled once (orders_project/db/compiled.py) rather than built per request.
# (tenant_id, key) is unique, so there is no ORDER BY: with one, a plan made without the
# values (a prepared statement's generic plan) can walk the primary key in order instead
# of going straight to the unique index.
_LIVE = CompiledQuery(
    lambda tenant_id, key, now: (
        _keys_of(tenant_id)
        .filter(key=key, expires_at__gt=now)
        .values_list("fingerprint", "response_status", "response_headers", "response_body")[:1]
    ),
    "\x00tenant",
    "\x00key",
    datetime(1970, 1, 2, tzinfo=UTC),
)


class IdempotencyKeyRepository:
    """Claims, reads and completes keys of one tenant."""

    def __init__(self, *, tenant_id: str) -> None:
        self.tenant_id = tenant_id

    def find_live(self, key: str) -> KeyRecord | None:
        """The committed, unexpired record of `key`, if any."""
        rows = _LIVE.fetch(self.tenant_id, key, timezone.now())
        if not rows:
            return None
        fingerprint, status, headers, body = rows[0]
        return KeyRecord(
            fingerprint=fingerprint,
            response=StoredResponse(status=status, headers=headers, body=bytes(body)),
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
        values = (response.status, response.headers, response.body)
        prepared = [
            field.get_db_prep_save(value, connection)  # type: ignore[union-attr]
            for field, value in zip(_RESPONSE_FIELDS, values, strict=True)
        ]
        with connection.cursor() as cursor:
            cursor.execute(_COMPLETE, [*prepared, self.tenant_id, key])


def purge_expired(*, batch_size: int) -> int:
    """Delete one batch of expired keys, of every tenant; returns how many went."""
    now = timezone.now()
    expired = IdempotencyKey.objects.filter(expires_at__lte=now).values("pk")[:batch_size]
    # The outer condition is re-checked on rows a concurrent claim has just taken over
    # (and made live again), so such a row is skipped rather than deleted.
    deleted, _ = IdempotencyKey.objects.filter(pk__in=expired, expires_at__lte=now).delete()
    return deleted
