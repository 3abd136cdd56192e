"""Executing a request at most once per (tenant, key), and replaying its response."""

from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import OperationalError, transaction
from psycopg import errors as pg_errors

from idempotency.errors import IdempotencyKeyInUse, IdempotencyKeyReused
from idempotency.repository import (
    IdempotencyKeyRepository,
    StoredResponse,
    purge_expired,
)
from orders_project.db.batches import in_batches


def idempotent_execute[T](
    *,
    tenant_id: str,
    key: str,
    fingerprint: str,
    execute: Callable[[], T],
    capture: Callable[[T], StoredResponse | None],
) -> T | StoredResponse:
    """Run `execute` once for this key, or return the response stored for it.

    `capture` turns the result into the response to store, or None when the request
    failed: then everything it wrote is rolled back and the key stays unused. The key
    row and the request's own writes commit together, so they exist together or not
    at all, whatever happens to the process.
    """
    repository = IdempotencyKeyRepository(tenant_id=tenant_id)
    # Fast path, no transaction: a retry of a completed request is one SELECT.
    record = repository.find_live(key)
    if record is not None:
        return _replay(record.fingerprint, fingerprint, record.response)

    ttl = timedelta(seconds=settings.IDEMPOTENCY_KEY_TTL_SECONDS)
    with transaction.atomic():
        if not _claim(repository, key, fingerprint, ttl):
            # Another request with this key committed while we waited on it.
            record = repository.find_live(key)
            if record is None:  # it expired in between: the client may retry
                raise IdempotencyKeyInUse()
            return _replay(record.fingerprint, fingerprint, record.response)
        result = execute()
        response = capture(result)
        if response is None:
            transaction.set_rollback(True)
        else:
            repository.complete(key, response)
        return result


def _claim(
    repository: IdempotencyKeyRepository, key: str, fingerprint: str, ttl: timedelta
) -> bool:
    try:
        return repository.claim(key, fingerprint=fingerprint, ttl=ttl)
    except OperationalError as error:
        if isinstance(error.__cause__, pg_errors.LockNotAvailable):
            # The first request still holds the key after lock_timeout.
            raise IdempotencyKeyInUse() from error
        raise


def _replay(stored: str, given: str, response: StoredResponse) -> StoredResponse:
    if stored != given:
        raise IdempotencyKeyReused()
    return response


def idempotency_keys_purge(
    *, batch_size: int, progress: Callable[[int], object] | None = None
) -> int:
    """Delete every expired key, in batches of `batch_size`; returns the count."""
    return in_batches(
        lambda: purge_expired(batch_size=batch_size), batch_size=batch_size, progress=progress
    )
