"""The order use cases called directly: results, domain errors and the compare-and-set."""

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.db import DataError, IntegrityError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from orders import services
from orders.errors import InvalidStateTransition, OrderNotFound, StaleVersion
from orders.models import Order
from orders.repository import Keyset, OrderFilters, OrderRepository
from orders.tests.factories import ClosedOrderFactory, ConfirmedOrderFactory, OrderFactory
from outbox.models import OutboxEvent

pytestmark = pytest.mark.django_db

# For calls the service refuses from inside its transaction: that transaction must be
# the outermost one, as under a request, so the test can read the database afterwards.
committed = pytest.mark.django_db(transaction=True)


def stored(order: Order) -> dict[str, Any]:
    return dict(Order.objects.values().get(pk=order.pk))


# --- order_create / order_get ---------------------------------------------------------


def test_order_create_stores_a_draft_at_version_1_for_the_tenant() -> None:
    # when
    order = services.order_create(tenant_id="tenant-7")

    # then
    row = stored(order)
    assert row["tenant_id"] == "tenant-7"
    assert row["status"] == Order.Status.DRAFT
    assert row["version"] == 1
    assert row["total_cents"] is None
    assert row["closed_at"] is None
    assert row["created_at"] == row["updated_at"] == order.created_at


def test_order_get_returns_the_tenants_order() -> None:
    # given
    order = OrderFactory.create(tenant_id="tenant-1")

    # when
    found = services.order_get(tenant_id="tenant-1", order_id=str(order.pk))

    # then
    assert found == order


@pytest.mark.parametrize("order_id", ["not-a-uuid", "", str(uuid.uuid4())])
def test_order_get_of_a_missing_order_raises_order_not_found(order_id: str) -> None:
    # when / then
    with pytest.raises(OrderNotFound):
        services.order_get(tenant_id="tenant-1", order_id=order_id)


def test_order_get_of_another_tenants_order_raises_order_not_found() -> None:
    # given
    order = OrderFactory.create(tenant_id="tenant-2")

    # when / then
    with pytest.raises(OrderNotFound):
        services.order_get(tenant_id="tenant-1", order_id=order.pk)


# --- order_confirm --------------------------------------------------------------------


@pytest.mark.parametrize("expected_version", [1, None])
def test_order_confirm_fixes_the_total_and_bumps_the_version(
    expected_version: int | None,
) -> None:
    # given
    draft = OrderFactory.create()

    # when
    order = services.order_confirm(
        tenant_id="tenant-1",
        order_id=draft.pk,
        total_cents=1250,
        expected_version=expected_version,
    )

    # then
    row = stored(draft)
    assert (row["status"], row["total_cents"], row["version"]) == ("confirmed", 1250, 2)
    assert row["updated_at"] > draft.updated_at
    assert (order.status, order.total_cents, order.version) == ("confirmed", 1250, 2)
    assert order.updated_at == row["updated_at"]


@committed
def test_order_confirm_with_a_stale_version_raises_and_changes_nothing() -> None:
    # given
    draft = OrderFactory.create()
    before = stored(draft)

    # when
    with pytest.raises(StaleVersion) as raised:
        services.order_confirm(
            tenant_id="tenant-1", order_id=draft.pk, total_cents=1, expected_version=2
        )

    # then: it names the version the order is at
    assert stored(draft) == before
    assert raised.value.current_version == 1


@committed
@pytest.mark.parametrize("factory", [ConfirmedOrderFactory, ClosedOrderFactory])
def test_order_confirm_outside_draft_raises_invalid_state_transition(
    factory: type[OrderFactory],
) -> None:
    # given
    order = factory.create()
    before = stored(order)

    # when
    with pytest.raises(InvalidStateTransition):
        services.order_confirm(
            tenant_id="tenant-1", order_id=order.pk, total_cents=1, expected_version=None
        )

    # then
    assert stored(order) == before


@committed
@pytest.mark.parametrize("tenant_id", ["tenant-2", "tenant-1"])
def test_order_confirm_of_a_missing_order_raises_order_not_found(tenant_id: str) -> None:
    # given: tenant-2 owns the order; tenant-1 asks for it, or for an unknown id
    order = OrderFactory.create(tenant_id="tenant-2")
    order_id = order.pk if tenant_id == "tenant-1" else uuid.uuid4()
    before = stored(order)

    # when
    with pytest.raises(OrderNotFound):
        services.order_confirm(
            tenant_id=tenant_id, order_id=order_id, total_cents=1, expected_version=None
        )

    # then
    assert stored(order) == before


@committed
@pytest.mark.parametrize("total_cents", [-1, 2_147_483_648])
def test_order_confirm_with_an_out_of_range_total_is_refused_by_the_database(
    total_cents: int,
) -> None:
    # given: the serializer validates totals; the check constraint guards every other caller
    draft = OrderFactory.create()
    before = stored(draft)

    # when
    with pytest.raises((IntegrityError, DataError)):
        services.order_confirm(
            tenant_id="tenant-1", order_id=draft.pk, total_cents=total_cents, expected_version=1
        )

    # then
    assert stored(draft) == before


# --- order_close ----------------------------------------------------------------------


def test_order_close_closes_and_records_the_event_in_the_same_call() -> None:
    # given
    confirmed = ConfirmedOrderFactory.create(total_cents=300)

    # when
    order = services.order_close(tenant_id="tenant-1", order_id=confirmed.pk, expected_version=2)

    # then
    row = stored(confirmed)
    assert (row["status"], row["version"], row["total_cents"]) == ("closed", 3, 300)
    assert row["closed_at"] == row["updated_at"] == order.closed_at
    event = OutboxEvent.objects.get(aggregate_id=confirmed.pk)
    assert event.event_type == "orders.closed"
    assert event.payload["totalCents"] == 300


@committed
def test_order_close_with_a_stale_version_raises_and_writes_nothing() -> None:
    # given
    confirmed = ConfirmedOrderFactory.create()
    before = stored(confirmed)

    # when
    with pytest.raises(StaleVersion) as raised:
        services.order_close(tenant_id="tenant-1", order_id=confirmed.pk, expected_version=1)

    # then
    assert stored(confirmed) == before
    assert raised.value.current_version == 2
    assert not OutboxEvent.objects.exists()


@committed
@pytest.mark.parametrize("factory", [OrderFactory, ClosedOrderFactory])
def test_order_close_outside_confirmed_raises_invalid_state_transition(
    factory: type[OrderFactory],
) -> None:
    # given
    order = factory.create()
    before = stored(order)

    # when
    with pytest.raises(InvalidStateTransition):
        services.order_close(tenant_id="tenant-1", order_id=order.pk, expected_version=None)

    # then
    assert stored(order) == before
    assert not OutboxEvent.objects.exists()


@committed
def test_order_close_of_another_tenants_order_raises_order_not_found() -> None:
    # given
    confirmed = ConfirmedOrderFactory.create(tenant_id="tenant-2")
    before = stored(confirmed)

    # when
    with pytest.raises(OrderNotFound):
        services.order_close(tenant_id="tenant-1", order_id=confirmed.pk, expected_version=None)

    # then
    assert stored(confirmed) == before
    assert not OutboxEvent.objects.exists()


# --- order_list -----------------------------------------------------------------------


def _confirm(order: Order) -> Order:
    return services.order_confirm(
        tenant_id=order.tenant_id, order_id=order.pk, total_cents=7, expected_version=None
    )


def _close(order: Order) -> Order:
    return services.order_close(
        tenant_id=order.tenant_id, order_id=order.pk, expected_version=None
    )


@pytest.mark.parametrize(
    ("factory", "transition", "version"),
    [
        (OrderFactory, _confirm, 1),
        (ConfirmedOrderFactory, _close, 2),
    ],
    ids=["confirm", "close"],
)
def test_transitions_bump_the_version_in_sql_guarded_by_the_expected_one(
    factory: Any, transition: Any, version: int
) -> None:
    # given
    order = factory.create()

    # when
    with CaptureQueriesContext(connection) as queries:
        transition(order)

    # then: one UPDATE of orders, incrementing in SQL under the version it expects;
    # a read-modify-write in Python would send the new version as a literal
    [update] = [q["sql"] for q in queries if q["sql"].startswith('UPDATE "orders"')]
    assert '"version" = ("orders"."version" + 1)' in update
    assert f'"orders"."version" = {version})' in update.split(" WHERE ", 1)[1]


ALL = OrderFilters()


def _older(keyset: Keyset) -> services.PageCursor:
    return services.PageCursor(direction=services.Direction.OLDER, at=keyset)


def _newer(keyset: Keyset) -> services.PageCursor:
    return services.PageCursor(direction=services.Direction.NEWER, at=keyset)


def test_order_list_pages_newest_first_and_ends_with_no_next() -> None:
    # given
    now = timezone.now()
    orders = [OrderFactory.create(created_at=now - timedelta(minutes=i)) for i in range(5)]
    OrderFactory.create(tenant_id="tenant-2", created_at=now)

    # when
    first = services.order_list(tenant_id="tenant-1", filters=ALL, limit=3, cursor=None)
    second = services.order_list(tenant_id="tenant-1", filters=ALL, limit=3, cursor=first.next)

    # then
    assert first.items == orders[:3]
    assert first.next == _older(Keyset.of(orders[2]))
    assert first.prev == _newer(Keyset.of(orders[0]))
    assert second.items == orders[3:]
    assert second.next is None
    assert second.prev == _newer(Keyset.of(orders[3]))


def test_order_list_pages_back_to_the_orders_just_newer() -> None:
    # given
    now = timezone.now()
    orders = [OrderFactory.create(created_at=now - timedelta(minutes=i)) for i in range(6)]

    # when: back from the fifth order, two at a time
    back = services.order_list(
        tenant_id="tenant-1", filters=ALL, limit=2, cursor=_newer(Keyset.of(orders[4]))
    )

    # then
    assert back.items == orders[2:4]
    assert back.prev == _newer(Keyset.of(orders[2]))
    assert back.next == _older(Keyset.of(orders[3]))


def test_order_list_back_from_the_newest_is_empty_and_stays_at_its_cursor() -> None:
    # given
    newest = OrderFactory.create()
    at_newest = _newer(Keyset.of(newest))

    # when
    page = services.order_list(tenant_id="tenant-1", filters=ALL, limit=20, cursor=at_newest)

    # then
    assert page == services.OrderPage(items=[], next=None, prev=at_newest)


def test_order_list_page_that_exactly_fills_the_limit_has_no_next() -> None:
    # given
    OrderFactory.create_batch(3)

    # when
    page = services.order_list(tenant_id="tenant-1", filters=ALL, limit=3, cursor=None)

    # then
    assert len(page.items) == 3
    assert page.next is None


def test_order_list_of_nothing_has_no_cursors() -> None:
    # when
    page = services.order_list(tenant_id="tenant-1", filters=ALL, limit=3, cursor=None)

    # then
    assert page == services.OrderPage(items=[], next=None, prev=None)


def test_order_list_filters_by_status_and_created_range() -> None:
    # given
    now = timezone.now()
    OrderFactory.create(created_at=now)
    confirmed = ConfirmedOrderFactory.create(created_at=now)
    ConfirmedOrderFactory.create(created_at=now - timedelta(hours=1))
    ConfirmedOrderFactory.create(created_at=now + timedelta(hours=1))
    ClosedOrderFactory.create(created_at=now)
    filters = OrderFilters(
        status="confirmed",
        created_from=now,
        created_before=now + timedelta(hours=1),
    )

    # when
    page = services.order_list(tenant_id="tenant-1", filters=filters, limit=10, cursor=None)

    # then
    assert page.items == [confirmed]


# --- the compare-and-set --------------------------------------------------------------


def test_compare_and_set_with_the_expected_version_bumps_it_in_one_update() -> None:
    # given
    draft = OrderFactory.create()
    repository = OrderRepository(tenant_id="tenant-1")

    # when
    with CaptureQueriesContext(connection) as queries:
        written = repository.compare_and_set(
            draft.pk,
            expected_version=1,
            expected_status="draft",
            total_cents=5,
            status="confirmed",
        )

    # then: one guarded UPDATE, the increment done by PostgreSQL
    assert written is True
    assert len(queries) == 1
    sql = queries[0]["sql"]
    assert sql.startswith('UPDATE "orders" SET "version" = ("orders"."version" + 1)')
    assert '"orders"."version" = 1' in sql
    row = stored(draft)
    assert (row["version"], row["status"], row["total_cents"]) == (2, "confirmed", 5)


def test_compare_and_set_with_a_stale_version_returns_false_and_changes_nothing() -> None:
    # given: a writer read version 1, then someone else wrote version 2
    draft = OrderFactory.create()
    repository = OrderRepository(tenant_id="tenant-1")
    assert repository.compare_and_set(draft.pk, expected_version=1, expected_status="draft")
    before = stored(draft)

    # when
    written = repository.compare_and_set(
        draft.pk, expected_version=1, expected_status="draft", total_cents=5, status="confirmed"
    )

    # then
    assert written is False
    assert stored(draft) == before
    assert before["version"] == 2


def test_compare_and_set_with_an_unexpected_status_returns_false_and_changes_nothing() -> None:
    # given
    confirmed = ConfirmedOrderFactory.create()
    before = stored(confirmed)

    # when
    written = OrderRepository(tenant_id="tenant-1").compare_and_set(
        confirmed.pk, expected_version=2, expected_status="draft", status="closed"
    )

    # then
    assert written is False
    assert stored(confirmed) == before


def test_compare_and_set_cannot_touch_another_tenants_order() -> None:
    # given
    draft = OrderFactory.create(tenant_id="tenant-2")
    before = stored(draft)

    # when
    written = OrderRepository(tenant_id="tenant-1").compare_and_set(
        draft.pk, expected_version=1, expected_status="draft", total_cents=1, status="confirmed"
    )

    # then
    assert written is False
    assert stored(draft) == before
