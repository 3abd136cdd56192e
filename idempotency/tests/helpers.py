"""Small helpers the idempotency tests share: requests, backend pids, lock timeouts."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection
from django.test import Client

TENANT = "tenant-1"
JSON = "application/json"


def post_order(
    client: Client, *, key: str | None = None, body: bytes = b"{}", content_type: str = JSON
):
    """POST /orders with `body`, keyed when `key` is given."""
    headers = {} if key is None else {"Idempotency-Key": key}
    return client.post("/orders", data=body, content_type=content_type, headers=headers)


def backend_pid() -> int:
    """The PostgreSQL backend pid of this thread's connection."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def is_blocked_by(waiter_pid: int, holder_pid: int) -> bool:
    """True while backend `waiter_pid` waits on a lock that `holder_pid` holds."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s = ANY(pg_blocking_pids(%s))", [holder_pid, waiter_pid])
        return cursor.fetchone()[0]


@contextmanager
def lock_timeout(value: str) -> Iterator[None]:
    """Set this connection's lock_timeout, then restore the configured one."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('lock_timeout', %s, false)", [value])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")
