"""Order use cases. Each function is one transaction; the views call nothing else.

The writes open `transaction.atomic(savepoint=False)` (measured: docs/DECISIONS.md): on
their own they are the transaction; a keyed write's transaction is its idempotent
write's (`idempotency.decorators.idempotent` claims the key and stores the response in
it), and there they join it without a SAVEPOINT/RELEASE pair, two round trips per keyed
write. A refused write then dooms that whole transaction, which the idempotent write
rolls back anyway: a failed request leaves its key unused.
"""

import uuid
from collections.abc import Set
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from django.db import transaction
from django.utils import timezone

from orders.errors import InvalidStateTransition, OrderNotFound, StaleVersion
from orders.metrics import OPTIMISTIC_LOCK_FAILURES
from orders.models import Order
from orders.repository import Keyset, OrderFilters, OrderRepository
from orders_project.timestamps import format_timestamp
from outbox.repository import OutboxRepository

ORDER_AGGREGATE = "order"
ORDER_CLOSED = "orders.closed"


def order_closed_payload(
    *, order_id: uuid.UUID, tenant_id: str, total_cents: int | None, closed_at: datetime
) -> dict[str, object]:
    """The body of an `orders.closed` event (the relay publishes it as is)."""
    return {
        "orderId": str(order_id),
        "tenantId": tenant_id,
        "totalCents": total_cents,
        "closedAt": format_timestamp(closed_at),
    }


class Direction(StrEnum):
    """Which way a cursor pages from its position in the newest-first walk."""

    OLDER = "older"
    NEWER = "newer"


@dataclass(frozen=True)
class PageCursor:
    """Where a page starts: the orders just older, or just newer, than `at`."""

    direction: Direction
    at: Keyset


@dataclass(frozen=True)
class OrderPage:
    """One page of a keyset walk, newest first, with the cursors on either side.

    `next` (older orders) is None when no older order matches; `prev` (newer orders)
    is None only on an empty page asked for without a cursor. An empty page reached by
    a cursor keeps a `prev` at that cursor's position: polled, it finds new orders.
    """

    items: list[Order]
    next: PageCursor | None
    prev: PageCursor | None


def order_create(*, tenant_id: str) -> Order:
    """Create a draft order at version 1."""
    now = timezone.now()
    return OrderRepository(tenant_id=tenant_id).add(Order(created_at=now, updated_at=now))


def order_get(*, tenant_id: str, order_id: uuid.UUID | str) -> Order:
    """The tenant's order; another tenant's is as missing as an unknown one."""
    order = OrderRepository(tenant_id=tenant_id).get(order_pk(order_id))
    if order is None:
        raise OrderNotFound()
    return order


def order_confirm(
    *,
    tenant_id: str,
    order_id: uuid.UUID | str,
    total_cents: int,
    expected_version: int | Set[int] | None,
) -> Order:
    """draft → confirmed, fixing the total. `expected_version` is the version the caller
    saw (or any of a set of them, an If-Match list); None means any version.

    `total_cents` was validated at the input boundary (OrderConfirmInputSerializer); the
    table's check constraint refuses any other caller's out-of-range total.
    """
    with transaction.atomic(savepoint=False):
        repository = OrderRepository(tenant_id=tenant_id)
        order = _locked_for_transition(
            repository,
            order_id,
            expected_version,
            Order.Status.DRAFT,
            Order.Status.CONFIRMED,
        )
        _apply(
            repository,
            order,
            status=Order.Status.CONFIRMED,
            total_cents=total_cents,
            updated_at=timezone.now(),
        )
    return order


def order_close(
    *, tenant_id: str, order_id: uuid.UUID | str, expected_version: int | Set[int] | None
) -> Order:
    """confirmed → closed, and the `orders.closed` outbox event, in one transaction."""
    with transaction.atomic(savepoint=False):
        repository = OrderRepository(tenant_id=tenant_id)
        order = _locked_for_transition(
            repository,
            order_id,
            expected_version,
            Order.Status.CONFIRMED,
            Order.Status.CLOSED,
        )
        now = timezone.now()
        _apply(repository, order, status=Order.Status.CLOSED, closed_at=now, updated_at=now)
        OutboxRepository(tenant_id=tenant_id).add(
            aggregate_type=ORDER_AGGREGATE,
            aggregate_id=order.pk,
            event_type=ORDER_CLOSED,
            payload=order_closed_payload(
                order_id=order.pk,
                tenant_id=tenant_id,
                total_cents=order.total_cents,
                closed_at=now,
            ),
        )
    return order


def order_list(
    *, tenant_id: str, filters: OrderFilters, limit: int, cursor: PageCursor | None
) -> OrderPage:
    """A page of the tenant's matching orders, newest first, from `cursor` (else the top)."""
    repository = OrderRepository(tenant_id=tenant_id)
    if cursor is not None and cursor.direction is Direction.NEWER:
        found = repository.page(filters, limit=limit, before=cursor.at)
    else:
        found = repository.page(filters, limit=limit, after=cursor.at if cursor else None)
    items = found.orders
    if not items:
        return OrderPage(
            items=[],
            next=None,
            prev=PageCursor(direction=Direction.NEWER, at=cursor.at) if cursor else None,
        )
    return OrderPage(
        items=items,
        next=(
            PageCursor(direction=Direction.OLDER, at=Keyset.of(items[-1]))
            if found.more_after
            else None
        ),
        prev=PageCursor(direction=Direction.NEWER, at=Keyset.of(items[0])),
    )


def order_pk(order_id: uuid.UUID | str) -> uuid.UUID:
    """The id `order_id` names, in the one spelling the API writes: lower case, hyphenated.

    Another spelling of the same UUID (upper case, no hyphens, braces, `urn:uuid:`) names
    no order, so that a retry of a request is the same request byte for byte.
    """
    if isinstance(order_id, uuid.UUID):
        return order_id
    try:
        pk = uuid.UUID(order_id)
    except ValueError:
        raise OrderNotFound() from None
    if str(pk) != order_id:
        raise OrderNotFound()
    return pk


def _locked_for_transition(
    repository: OrderRepository,
    order_id: uuid.UUID | str,
    expected_version: int | Set[int] | None,
    from_status: str,
    to_status: str,
) -> Order:
    """Lock the order and check the precondition (412) before the state rule (409)."""
    order = repository.get_for_update(order_pk(order_id))
    if order is None:
        raise OrderNotFound()
    expected = {expected_version} if isinstance(expected_version, int) else expected_version
    if expected is not None and order.version not in expected:
        OPTIMISTIC_LOCK_FAILURES.inc()
        raise StaleVersion(
            f"If-Match does not name version {order.version}, the order's current one.",
            current_version=order.version,
        )
    if order.status != from_status:
        raise InvalidStateTransition(
            f"An order can move to {to_status} only from {from_status}; it is {order.status}."
        )
    return order


def _apply(repository: OrderRepository, order: Order, **changes: object) -> None:
    """Write `changes` with a version bump guarded by the version we locked."""
    if not repository.compare_and_set(
        order.pk,
        expected_version=order.version,
        expected_status=order.status,
        **changes,
    ):
        # Unreachable while we hold the row lock; kept so a future caller that does
        # not lock still cannot overwrite a concurrent change.
        current = repository.get(order.pk)
        raise StaleVersion(current_version=current.version if current else order.version)
    # The UPDATE bumped the version in SQL from exactly the value we locked, so the
    # in-memory copy can mirror it without another round trip.
    for field, value in changes.items():
        setattr(order, field, value)
    order.version = order.version + 1
