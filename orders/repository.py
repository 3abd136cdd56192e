"""OrderRepository: the only code that queries the `orders` table.

It is built for one tenant and every query starts from the tenant-scoped queryset, so
an unscoped lookup cannot be written by accident. It never commits: the service that
calls it owns the transaction.
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import F, QuerySet
from django.db.models.fields.tuple_lookups import Tuple, TupleLessThan

from orders.models import ApiKey, Order, TenantMembership
from orders_project.db.compiled import CompiledInsert, CompiledQuery, CompiledUpdate


@dataclass(frozen=True)
class Keyset:
    """A position in the (created_at DESC, id DESC) walk: the last row already seen."""

    created_at: datetime
    id: uuid.UUID


def _orders_of(tenant_id: str) -> QuerySet[Order]:
    return Order.objects.filter(tenant_id=tenant_id)


def _newest_first(orders: QuerySet[Order], limit: int) -> QuerySet[Order]:
    return orders.order_by("-created_at", "-id")[:limit]


def _after(orders: QuerySet[Order], created_at: datetime, order_id: uuid.UUID) -> QuerySet[Order]:
    # A row comparison, so PostgreSQL can start the index scan at the keyset.
    return orders.filter(TupleLessThan(Tuple(F("created_at"), F("id")), (created_at, order_id)))


# The request path's queries, compiled once (orders_project/db/compiled.py): the same
# SQL the QuerySets below produce, without building it again on every request.
_TENANT = "\x00tenant"
_STATUS = "\x00status"
_ID = uuid.UUID(int=1)
_CREATED_AT = datetime(1970, 1, 2, tzinfo=UTC)
# The INSERT of a new order, as save(force_insert=True) sends it (no save signals on Order).
_INSERT = CompiledInsert(Order)

_BY_ID = CompiledQuery(
    lambda tenant_id, order_id: _orders_of(tenant_id).filter(pk=order_id).order_by("pk")[:1],
    _TENANT,
    _ID,
)
_BY_ID_LOCKED = CompiledQuery(
    lambda tenant_id, order_id: (
        _orders_of(tenant_id)
        .select_for_update(of=("self",))
        .filter(pk=order_id)
        .order_by("pk")[:1]
    ),
    _TENANT,
    _ID,
)
# Placeholders of the guarded UPDATE: one per value, distinct from each other.
# (Positive: Django answers a lookup on a positive field with a negative value by
# deciding the query is empty, without SQL.)
_VERSION, _STEP = 1_000_001, 1_000_002
_CHANGES = {
    "status": "\x00new-status",
    "total_cents": 1_000_003,
    "updated_at": datetime(1970, 1, 3, tzinfo=UTC),
    "closed_at": datetime(1970, 1, 4, tzinfo=UTC),
}
_guarded_updates: dict[tuple[str, ...], CompiledUpdate] = {}


def _guarded_update(fields: tuple[str, ...]) -> CompiledUpdate:
    """UPDATE … SET version = version + step, <fields> WHERE id, version and status match."""
    query = _guarded_updates.get(fields)
    if query is None:
        unknown = set(fields) - set(_CHANGES)
        if unknown:
            raise ValueError(f"compare_and_set cannot change {sorted(unknown)}")

        def build(
            tenant_id: str, order_id: uuid.UUID, version: int, status: str, step: int, *values: Any
        ) -> tuple[QuerySet[Order], dict[str, Any]]:
            guarded = _orders_of(tenant_id).filter(pk=order_id, version=version, status=status)
            return guarded, {
                "version": F("version") + step,
                **dict(zip(fields, values, strict=True)),
            }

        placeholders = (_TENANT, _ID, _VERSION, _STATUS, _STEP, *(_CHANGES[f] for f in fields))
        query = _guarded_updates[fields] = CompiledUpdate(build, *placeholders)
    return query


_pages: dict[tuple[bool, bool, int], CompiledQuery] = {}


def _page_query(*, by_status: bool, after: bool, limit: int) -> CompiledQuery:
    # One compiled query per shape; `limit` is bounded by the API (OrderListQuerySerializer).
    shape = (by_status, after, limit)
    query = _pages.get(shape)
    if query is None:

        def build(tenant_id: str, *rest: Any) -> QuerySet[Order]:
            orders, values = _orders_of(tenant_id), list(rest)
            if by_status:
                orders = orders.filter(status=values.pop(0))
            if after:
                orders = _after(orders, *values)
            return _newest_first(orders, limit)

        placeholders: list[Any] = [_TENANT]
        if by_status:
            placeholders.append(_STATUS)
        if after:
            placeholders += [_CREATED_AT, _ID]
        query = _pages[shape] = CompiledQuery(build, *placeholders)
    return query


class OrderRepository:
    """Reads and writes the orders of one tenant."""

    def __init__(self, *, tenant_id: str) -> None:
        self.tenant_id = tenant_id

    def add(self, order: Order) -> Order:
        """Insert a new order for this tenant."""
        order.tenant_id = self.tenant_id
        _INSERT.insert(order)
        return order

    def get(self, order_id: uuid.UUID) -> Order | None:
        """The order, or None when it does not exist for this tenant."""
        found: list[Order] = _BY_ID.fetch(self.tenant_id, order_id)
        return found[0] if found else None

    def get_for_update(self, order_id: uuid.UUID) -> Order | None:
        """The order, row-locked until the surrounding transaction ends."""
        found: list[Order] = _BY_ID_LOCKED.fetch(self.tenant_id, order_id)
        return found[0] if found else None

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
        update = _guarded_update(tuple(changes))
        values = changes.values()
        return (
            update.execute(self.tenant_id, order_id, expected_version, expected_status, 1, *values)
            == 1
        )

    def page(self, *, status: str | None, after: Keyset | None, limit: int) -> list[Order]:
        """Up to `limit` orders after `after`, newest first, by the tenant index."""
        query = _page_query(by_status=status is not None, after=after is not None, limit=limit)
        values: list[Any] = [self.tenant_id, *([status] if status is not None else [])]
        if after is not None:
            values += [after.created_at, after.id]
        return query.fetch(*values)


class AccessRepository:
    """API keys and tenant memberships: who may act for which tenant."""

    def add_key(self, key: ApiKey) -> ApiKey:
        key.save(force_insert=True)
        return key

    def _live_keys(self, prefix: str) -> QuerySet[ApiKey]:
        return ApiKey.objects.filter(prefix=prefix, revoked_at__isnull=True)

    def live_key(self, prefix: str) -> ApiKey | None:
        """The unrevoked key with this public prefix."""
        # get(), not first(): the prefix is unique, and first()'s ORDER BY id would make
        # a prepared statement's generic plan sort (tests/test_prepared_statements.py).
        try:
            return self._live_keys(prefix).get()
        except ApiKey.DoesNotExist:
            return None

    def revoke_key(self, prefix: str, *, at: datetime) -> bool:
        return self._live_keys(prefix).update(revoked_at=at) == 1

    def save_user(
        self, *, username: str, password: str, staff: bool
    ) -> tuple[AbstractBaseUser, bool]:
        user, created = get_user_model().objects.get_or_create(username=username)
        user.set_password(password)
        user.is_staff = user.is_staff or staff
        user.save()
        return user, created

    def add_membership(self, user_id: int, tenant_id: str) -> None:
        TenantMembership.objects.get_or_create(user_id=user_id, tenant_id=tenant_id)

    def tenants_of(self, user_id: int) -> list[str]:
        return list(
            TenantMembership.objects.filter(user_id=user_id).values_list("tenant_id", flat=True)
        )
