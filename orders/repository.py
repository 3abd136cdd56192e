"""OrderRepository: the only code that queries the `orders` table.

It is built for one tenant and every query starts from the tenant-scoped queryset
(`_orders`), so an unscoped lookup cannot be written by accident; the one read in plain
SQL (`get`, measured) names the tenant in its WHERE. It never commits: the service that
calls it owns the transaction.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, models
from django.db.models import F, Func, QuerySet, Value
from django.db.models.lookups import GreaterThan, LessThan, LessThanOrEqual

from orders.models import Order


@dataclass(frozen=True)
class Keyset:
    """A position in the (created_at DESC, id DESC) walk: a row already seen."""

    created_at: datetime
    id: uuid.UUID

    @classmethod
    def of(cls, order: Order) -> "Keyset":
        """The position of `order` in the walk."""
        return cls(created_at=order.created_at, id=order.pk)


@dataclass(frozen=True)
class OrderFilters:
    """What a list is restricted to; None is no restriction."""

    status: str | None = None
    created_from: datetime | None = None  # inclusive
    created_before: datetime | None = None  # exclusive


@dataclass(frozen=True)
class Slice:
    """Orders of one page, newest first, and whether a matching order is listed after them."""

    orders: list[Order]
    more_after: bool


class Row(Func):
    """A row value `(a, b, …)`; PostgreSQL compares two of them column by column.

    `(created_at, id) < (%s, %s)` is one condition PostgreSQL starts an index scan at,
    where the equivalent `created_at < %s OR (created_at = %s AND id < %s)` is not.
    """

    template = "(%(expressions)s)"
    # Compared only with another row value; the comparison itself is a boolean.
    output_field = models.Field()


# The walk's key, compared with a Keyset's values as one row value.
_ROW = Row("created_at", "id")


def _row_of(keyset: Keyset) -> Row:
    return Row(Value(keyset.created_at), Value(keyset.id))


# An order's columns, in the order OrderRepository.get selects them (a column missing
# here would be loaded by a second query: orders/tests/test_query_counts.py counts them).
ORDER_COLUMNS = (
    "id",
    "tenant_id",
    "status",
    "version",
    "total_cents",
    "created_at",
    "updated_at",
    "closed_at",
)


class OrderRepository:
    """Reads and writes the orders of one tenant."""

    def __init__(self, *, tenant_id: str) -> None:
        self.tenant_id = tenant_id

    def _orders(self, **lookups: Any) -> QuerySet[Order]:
        """This tenant's orders (matching `lookups`): where every query starts."""
        return Order.objects.filter(tenant_id=self.tenant_id, **lookups)

    def add(self, order: Order) -> Order:
        """Insert a new order for this tenant."""
        order.tenant_id = self.tenant_id
        order.save(force_insert=True)
        return order

    def get(self, order_id: uuid.UUID) -> Order | None:
        """The order, or None when it does not exist for this tenant."""
        # Plain SQL: every GET and conditional GET is this one read, at a fraction of the
        # QuerySet's CPU (docs/DECISIONS.md); Model.from_db() builds it as the ORM does.
        with connection.cursor() as cursor:
            cursor.execute(
                """
                SELECT id, tenant_id, status, version, total_cents, created_at, updated_at,
                       closed_at
                FROM orders WHERE tenant_id = %s AND id = %s
                """,
                [self.tenant_id, order_id],
            )
            row = cursor.fetchone()
        return None if row is None else Order.from_db(connection.alias, ORDER_COLUMNS, row)

    def get_for_update(self, order_id: uuid.UUID) -> Order | None:
        """The order, row-locked until the surrounding transaction ends."""
        try:
            return self._orders(pk=order_id).select_for_update(of=("self",)).get()
        except Order.DoesNotExist:
            return None

    def compare_and_set(
        self,
        order_id: uuid.UUID,
        *,
        expected_version: int,
        expected_status: str,
        **changes: Any,
    ) -> bool:
        """Apply `changes` and bump the version, only if version and status still match.

        The guard and the increment are one UPDATE; False means another writer got
        there first and nothing was written.
        """
        guarded = self._orders(pk=order_id, version=expected_version, status=expected_status)
        updated = guarded.update(version=F("version") + 1, **changes)
        return updated == 1

    def page(
        self,
        filters: OrderFilters,
        *,
        limit: int,
        after: Keyset | None = None,
        before: Keyset | None = None,
    ) -> Slice:
        """Up to `limit` matching orders listed just after `after`, or just before
        `before`, or from the newest; newest first, by the tenant's indexes.

        Every statement starts its index scan at the keyset, so a deep page costs what
        the first does.
        """
        if before is not None:
            return self._just_before(filters, before, limit)
        orders = self._matching(filters)
        if after is not None:
            orders = orders.filter(LessThan(_ROW, _row_of(after)))
        rows = list(orders.order_by("-created_at", "-id")[: limit + 1])
        return Slice(orders=rows[:limit], more_after=len(rows) > limit)

    def _just_before(self, filters: OrderFilters, before: Keyset, limit: int) -> Slice:
        # The `limit` orders nearest above the keyset, read upwards from it; and in the
        # same statement the one at or below it, which says whether a next page exists.
        # (The keyset's own row may no longer match: its status can have changed.)
        orders = self._matching(filters)
        newer = orders.filter(GreaterThan(_ROW, _row_of(before))).order_by("created_at", "id")
        older = orders.filter(LessThanOrEqual(_ROW, _row_of(before)))
        rows = list(newer[:limit].union(older.order_by("-created_at", "-id")[:1], all=True))
        position = (before.created_at, before.id)
        listed = [row for row in rows if (row.created_at, row.pk) > position]
        listed.sort(key=lambda row: (row.created_at, row.pk), reverse=True)
        return Slice(orders=listed, more_after=len(listed) < len(rows))

    def _matching(self, filters: OrderFilters) -> QuerySet[Order]:
        """This tenant's orders that pass `filters`."""
        lookups: dict[str, Any] = {}
        if filters.status is not None:
            lookups["status"] = filters.status
        if filters.created_from is not None:
            lookups["created_at__gte"] = filters.created_from
        if filters.created_before is not None:
            lookups["created_at__lt"] = filters.created_before
        return self._orders(**lookups)
