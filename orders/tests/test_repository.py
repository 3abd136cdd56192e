"""OrderRepository: tenant-scoped reads, keyset pages and the guarded version bump."""

import itertools
import random
from datetime import timedelta

import pytest
from django.utils import timezone

from orders.models import Order
from orders.repository import Keyset, OrderFilters, OrderRepository
from orders.tests.factories import OrderFactory

pytestmark = pytest.mark.django_db

STATUSES = [None, *Order.Status.values]


@pytest.fixture
def orders() -> list[Order]:
    """45 orders of tenant-1 in every state, some sharing a created_at (ties broken by
    id), and orders of tenant-2 interleaved with them."""
    rng = random.Random(7)
    now = timezone.now()
    made = []
    for i in range(45):
        created_at = now - timedelta(seconds=i // 3)  # groups of three share a timestamp
        state = rng.choice(["draft", "confirmed", "closed"])
        made.append(OrderFactory.create(created_at=created_at, **{state: True}))
        OrderFactory.create(tenant_id="tenant-2", created_at=created_at, **{state: True})
    return made


def _expected_page(
    orders: list[Order],
    status: str | None,
    limit: int,
    after: Keyset | None = None,
    before: Keyset | None = None,
) -> list[Order]:
    """The page worked out in Python from the orders the fixture made."""
    walk = sorted(orders, key=lambda o: (o.created_at, o.pk), reverse=True)
    if status is not None:
        walk = [o for o in walk if o.status == status]
    if after is not None:
        walk = [o for o in walk if (o.created_at, o.pk) < (after.created_at, after.id)]
    if before is not None:
        newer = [o for o in walk if (o.created_at, o.pk) > (before.created_at, before.id)]
        return newer[-limit:]
    return walk[:limit]


def _fields(order: Order) -> tuple[object, ...]:
    return tuple(getattr(order, field.attname) for field in Order._meta.fields)


def test_every_page_shape_walks_newest_first_from_the_keyset(orders: list[Order]) -> None:
    # given: keysets at the start, inside a group of equal timestamps, and past the end
    ordered = sorted(orders, key=lambda o: (o.created_at, o.pk), reverse=True)
    keysets = [None] + [Keyset.of(o) for o in ordered[::7]]
    repository = OrderRepository(tenant_id="tenant-1")

    for status, after, limit in itertools.product(STATUSES, keysets, [1, 2, 7, 21, 101]):
        # when
        page = repository.page(OrderFilters(status=status), after=after, limit=limit)

        # then
        expected = _expected_page(orders, status, limit + 1, after=after)
        assert [_fields(o) for o in page.orders] == [_fields(o) for o in expected[:limit]], (
            status,
            after,
            limit,
        )
        assert page.more_after is (len(expected) > limit)


def test_every_page_back_lists_the_orders_just_before_the_keyset(orders: list[Order]) -> None:
    # given: keysets at the newest, inside a group of equal timestamps, and at the oldest
    ordered = sorted(orders, key=lambda o: (o.created_at, o.pk), reverse=True)
    keysets = [Keyset.of(o) for o in [*ordered[::7], ordered[-1]]]
    repository = OrderRepository(tenant_id="tenant-1")

    for status, before, limit in itertools.product(STATUSES, keysets, [1, 2, 7, 21, 101]):
        # when
        page = repository.page(OrderFilters(status=status), before=before, limit=limit)

        # then: newest first, and more_after when a matching order is at or below it
        expected = _expected_page(orders, status, limit, before=before)
        assert [_fields(o) for o in page.orders] == [_fields(o) for o in expected], (
            status,
            before,
            limit,
        )
        at_or_below = _expected_page(orders, status, 1, after=before) + [
            o for o in orders if o.pk == before.id and status in (None, o.status)
        ]
        assert page.more_after is bool(at_or_below)


def test_get_and_get_for_update_see_only_the_tenants_order(orders: list[Order]) -> None:
    mine, theirs = orders[0], Order.objects.filter(tenant_id="tenant-2").first()
    assert theirs is not None
    repository = OrderRepository(tenant_id="tenant-1")

    found = repository.get(mine.pk)
    locked = repository.get_for_update(mine.pk)

    assert found is not None
    assert locked is not None
    assert _fields(found) == _fields(locked) == _fields(Order.objects.get(pk=mine.pk))
    assert repository.get(theirs.pk) is None
    assert repository.get_for_update(theirs.pk) is None


def test_compare_and_set_is_guarded_by_version_status_and_tenant(orders: list[Order]) -> None:
    # given
    draft = next(o for o in orders if o.status == Order.Status.DRAFT)
    mine = OrderRepository(tenant_id="tenant-1")
    theirs = OrderRepository(tenant_id="tenant-2")
    now = timezone.now()
    change = {"status": Order.Status.CONFIRMED, "total_cents": 42, "updated_at": now}

    # when / then: every stale guard writes nothing
    assert not mine.compare_and_set(
        draft.pk, expected_version=2, expected_status="draft", **change
    )
    assert not mine.compare_and_set(
        draft.pk, expected_version=1, expected_status="confirmed", **change
    )
    assert not theirs.compare_and_set(
        draft.pk, expected_version=1, expected_status="draft", **change
    )
    assert Order.objects.get(pk=draft.pk).version == 1

    # and the matching one bumps the version in SQL and writes the changes
    assert mine.compare_and_set(draft.pk, expected_version=1, expected_status="draft", **change)
    stored = Order.objects.get(pk=draft.pk)
    assert (stored.version, stored.status, stored.total_cents, stored.updated_at) == (
        2,
        "confirmed",
        42,
        now,
    )
