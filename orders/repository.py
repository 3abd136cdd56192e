"""OrderRepository: the only code that queries the `orders` table.

It is built for one tenant and every query starts from the tenant-scoped queryset, so
an unscoped lookup cannot be written by accident. It never commits: the service that
calls it owns the transaction.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import F, QuerySet
from django.db.models.fields.tuple_lookups import Tuple, TupleLessThan

from orders.models import Order


@dataclass(frozen=True)
class Keyset:
    """A position in the (created_at DESC, id DESC) walk: the last row already seen."""

    created_at: datetime
    id: uuid.UUID


class OrderRepository:
    """Reads and writes the orders of one tenant."""

    def __init__(self, *, tenant_id: str) -> None:
        self.tenant_id = tenant_id

    def _orders(self) -> QuerySet[Order]:
        return Order.objects.filter(tenant_id=self.tenant_id)

    def add(self, order: Order) -> Order:
        """Insert a new order for this tenant."""
        order.tenant_id = self.tenant_id
        order.save(force_insert=True)
        return order

    def get(self, order_id: uuid.UUID) -> Order | None:
        """The order, or None when it does not exist for this tenant."""
        return self._orders().filter(pk=order_id).first()

    def get_for_update(self, order_id: uuid.UUID) -> Order | None:
        """The order, row-locked until the surrounding transaction ends."""
        return self._orders().select_for_update(of=("self",)).filter(pk=order_id).first()

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
        updated = (
            self._orders()
            .filter(pk=order_id, version=expected_version, status=expected_status)
            .update(version=F("version") + 1, **changes)
        )
        return updated == 1

    def page(self, *, status: str | None, after: Keyset | None, limit: int) -> list[Order]:
        """Up to `limit` orders after `after`, newest first, by the tenant index."""
        orders = self._orders()
        if status is not None:
            orders = orders.filter(status=status)
        if after is not None:
            # A row comparison, so PostgreSQL can start the index scan at the keyset.
            orders = orders.filter(
                TupleLessThan(Tuple(F("created_at"), F("id")), (after.created_at, after.id))
            )
        return list(orders.order_by("-created_at", "-id")[:limit])
