"""Bulk seeding of orders for benchmarks and demos, through PostgreSQL's COPY.

Seeded rows obey every rule the API enforces: versions match the writes a real order
would have had, totals and `closedAt` are set by state, and every closed order gets
its one `orders.closed` outbox event, recorded as already published so that a relay
does not replay history.
"""

import json
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import connection, transaction

from orders.models import MAX_TOTAL_CENTS, Order
from orders.repository import ORDER_COLUMNS
from orders.services import ORDER_AGGREGATE, ORDER_CLOSED, order_closed_payload

_OUTBOX_COLUMNS = (
    "id",
    "tenant_id",
    "aggregate_type",
    "aggregate_id",
    "event_type",
    "payload",
    "created_at",
    "published_at",
    "attempts",
    "last_error",
)
_KEY_COLUMNS = (
    "tenant_id",
    "key",
    "fingerprint",
    "response_status",
    "response_headers",
    "response_body",
    "created_at",
    "expires_at",
)
# How many writes an order in each state has had: create, confirm, close.
_VERSION = {Order.Status.DRAFT: 1, Order.Status.CONFIRMED: 2, Order.Status.CLOSED: 3}


@dataclass(frozen=True)
class SeedPlan:
    """What to seed: `orders` spread round-robin over `tenants` tenants."""

    tenants: int
    orders: int
    tenant_prefix: str = "tenant-"
    closed_share: float = 0.3
    confirmed_share: float = 0.3
    span: timedelta = timedelta(days=90)
    seed: int = 0

    def tenant_ids(self) -> list[str]:
        return [f"{self.tenant_prefix}{index + 1}" for index in range(self.tenants)]


def seed_orders(
    plan: SeedPlan, *, batch_size: int = 50_000, progress: Callable[[int], object] | None = None
) -> int:
    """Insert `plan.orders` orders (and their outbox events) in COPY batches."""
    rows = _generate(plan)
    written = 0
    while written < plan.orders:
        count = min(batch_size, plan.orders - written)
        batch = [next(rows) for _ in range(count)]
        with transaction.atomic(), connection.cursor() as cursor:
            raw = cursor.cursor  # the psycopg cursor under Django's wrapper
            with raw.copy(f"COPY orders ({', '.join(ORDER_COLUMNS)}) FROM STDIN") as copy:
                for order, _ in batch:
                    copy.write_row(order)
            with raw.copy(f"COPY outbox ({', '.join(_OUTBOX_COLUMNS)}) FROM STDIN") as copy:
                for _, event in batch:
                    if event is not None:
                        copy.write_row(event)
        written += count
        if progress is not None:
            progress(count)
    return written


def _generate(plan: SeedPlan) -> Iterator[tuple[tuple[object, ...], tuple[object, ...] | None]]:
    rng = random.Random(plan.seed)  # noqa: S311 - test data, not secrets
    tenants = plan.tenant_ids()
    end = datetime.now(UTC)
    start = end - plan.span
    step = plan.span / max(plan.orders, 1)
    for index in range(plan.orders):
        tenant_id = tenants[index % len(tenants)]
        created_at = start + step * index
        draw = rng.random()
        if draw < plan.closed_share:
            status = Order.Status.CLOSED
        elif draw < plan.closed_share + plan.confirmed_share:
            status = Order.Status.CONFIRMED
        else:
            status = Order.Status.DRAFT
        total = None if status == Order.Status.DRAFT else rng.randint(0, MAX_TOTAL_CENTS // 1000)
        updated_at = created_at + timedelta(minutes=_VERSION[status] - 1)
        closed_at = updated_at if status == Order.Status.CLOSED else None
        order_id = uuid.uuid4()
        order = (
            order_id,
            tenant_id,
            status.value,
            _VERSION[status],
            total,
            created_at,
            updated_at,
            closed_at,
        )
        event = None
        if closed_at is not None:
            payload = order_closed_payload(
                order_id=order_id, tenant_id=tenant_id, total_cents=total, closed_at=closed_at
            )
            event = (
                uuid.uuid4(),
                tenant_id,
                ORDER_AGGREGATE,
                order_id,
                ORDER_CLOSED,
                json.dumps(payload),
                closed_at,
                closed_at,
                1,
                "",
            )
        yield order, event


def seed_idempotency_keys(
    plan: SeedPlan,
    *,
    count: int,
    ttl: timedelta,
    batch_size: int = 50_000,
    progress: Callable[[int], object] | None = None,
) -> int:
    """Insert `count` completed idempotency keys, the plan's tenants in turn, in COPY batches.

    They were created over the last two retention periods: the newer half is live (a
    day of keys, with the default retention) and the older half is what a purge that
    runs once per period finds expired. Each stores a create's 201 with an order body.
    """
    rows = _generate_keys(plan, count=count, ttl=ttl)
    written = 0
    while written < count:
        size = min(batch_size, count - written)
        with transaction.atomic(), connection.cursor() as cursor:
            raw = cursor.cursor  # the psycopg cursor under Django's wrapper
            with raw.copy(f"COPY idempotency_keys ({', '.join(_KEY_COLUMNS)}) FROM STDIN") as copy:
                for _ in range(size):
                    copy.write_row(next(rows))
        written += size
        if progress is not None:
            progress(size)
    return written


def _generate_keys(plan: SeedPlan, *, count: int, ttl: timedelta) -> Iterator[tuple[object, ...]]:
    tenants = plan.tenant_ids()
    end = datetime.now(UTC)
    step = 2 * ttl / max(count, 1)
    for index in range(count):
        tenant_id = tenants[index % len(tenants)]
        created_at = end - 2 * ttl + step * index
        order_id = uuid.uuid4()
        body = {
            "id": str(order_id),
            "tenantId": tenant_id,
            "status": "draft",
            "version": 1,
            "totalCents": None,
            "createdAt": created_at.isoformat(),
            "updatedAt": created_at.isoformat(),
            "closedAt": None,
        }
        headers = {
            "Content-Type": "application/json",
            "Location": f"/orders/{order_id}",
            "ETag": '"1"',
        }
        yield (
            tenant_id,
            str(uuid.uuid4()),
            uuid.uuid4().hex * 2,  # a sha256's length; no request will ever match it
            201,
            json.dumps(headers),
            json.dumps(body).encode(),
            created_at,
            created_at + ttl,
        )
