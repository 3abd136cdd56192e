"""What the idempotency tests share: a request that holds its key in flight, who waits
on whose lock in PostgreSQL, and which orders exist."""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.db import connection, connections, transaction
from drf_orjson_renderer.renderers import ORJSONRenderer

from idempotency.keys import fingerprint
from idempotency.repository import IdempotencyKeyRepository, StoredResponse
from orders import services
from orders.api.serializers import OrderOutputSerializer
from orders.models import Order
from orders.tests.http import JSON, TENANT

CREATE_FINGERPRINT = fingerprint(method="POST", path="/orders", body=b"{}")


def order_ids() -> list[str]:
    """The id of every stored order, as the API spells it: to check what ran, and how often."""
    return [str(pk) for pk in Order.objects.values_list("id", flat=True)]


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


class KeyHolder(threading.Thread):
    """Another `POST /orders` in flight with `key`: in its own connection and transaction
    it claims the key (taking over an expired one) and writes an order, then keeps the
    transaction, and so the key's row lock, open until `finish` is set or, when a waiter
    is named, until that backend is queued behind the lock. Then it stores its response
    and commits (`commit=True`) or fails and rolls back."""

    order: Order  # written before `claimed` is set; key_in_flight raises if it never was

    def __init__(self, *, key: str, commit: bool, waiter_pid: int | None = None) -> None:
        super().__init__(daemon=True)
        self.key = key
        self.commit = commit
        self.waiter_pid = waiter_pid
        self.claimed = threading.Event()
        self.finish = threading.Event()
        self.saw_waiter = False
        self.stored: StoredResponse | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with transaction.atomic():
                repository = IdempotencyKeyRepository(tenant_id=TENANT)
                assert repository.claim(
                    self.key, fingerprint=CREATE_FINGERPRINT, ttl=timedelta(hours=24)
                )
                self.order = services.order_create(tenant_id=TENANT)
                self.claimed.set()
                self._hold(backend_pid())
                if self.commit:
                    self.stored = StoredResponse(
                        status=201,
                        headers={
                            "Content-Type": JSON,
                            "Location": f"/orders/{self.order.pk}",
                            "ETag": '"1"',
                        },
                        body=ORJSONRenderer().render(OrderOutputSerializer(self.order).data),
                    )
                    repository.complete(self.key, self.stored)
                else:
                    transaction.set_rollback(True)
        except BaseException as error:  # re-raised in the test by `key_in_flight`
            self.error = error
        finally:
            self.claimed.set()
            connections.close_all()

    def _hold(self, own_pid: int) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.finish.wait(0.02):
                return
            if self.waiter_pid is not None and is_blocked_by(self.waiter_pid, own_pid):
                self.saw_waiter = True
                return
        raise TimeoutError("the key holder was neither waited on nor released")


@contextmanager
def key_in_flight(*, key: str, commit: bool, waiter_pid: int | None = None) -> Iterator[KeyHolder]:
    """Run a KeyHolder for the block; on leaving, it finishes (commit or rollback) and
    any error it met is raised here."""
    holder = KeyHolder(key=key, commit=commit, waiter_pid=waiter_pid)
    holder.start()
    try:
        assert holder.claimed.wait(30)
        if holder.error is not None:
            raise holder.error
        yield holder
    finally:
        holder.finish.set()
        holder.join(30)
    assert not holder.is_alive(), "the key holder did not finish"
    if holder.error is not None:
        raise holder.error
