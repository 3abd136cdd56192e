"""Closing an order writes exactly one `orders.closed` outbox event, atomically with it."""

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from orders.models import Order
from orders.tests.factories import ClosedOrderFactory, ConfirmedOrderFactory, OrderFactory
from orders.tests.http import ClientFor, assert_problem, close
from outbox.models import OutboxEvent
from outbox.repository import OutboxRepository

pytestmark = pytest.mark.django_db

# A refused or failed close is refused inside the service's transaction, which must be
# the outermost one (as in production) for the test to read the database afterwards.
committed = pytest.mark.django_db(transaction=True)


def test_close_writes_one_orders_closed_event_describing_the_order(api: Client) -> None:
    # given
    order = ConfirmedOrderFactory.create(total_cents=12345)

    # when
    response = close(api, order.pk)

    # then
    assert response.status_code == 200
    closed = response.json()
    event = OutboxEvent.objects.get()
    assert event.event_type == "orders.closed"
    assert event.aggregate_type == "order"
    assert event.aggregate_id == order.pk
    assert event.tenant_id == "tenant-1"
    assert event.payload == {
        "orderId": str(order.pk),
        "tenantId": "tenant-1",
        "totalCents": 12345,
        "closedAt": closed["closedAt"],
    }
    assert event.published_at is None
    assert event.dead_at is None
    assert event.attempts == 0
    assert event.created_at is not None


def test_each_closed_order_gets_its_own_event_in_commit_order(client_for: ClientFor) -> None:
    # given
    first = ConfirmedOrderFactory.create(tenant_id="tenant-1")
    second = ConfirmedOrderFactory.create(tenant_id="tenant-2")

    # when
    close(client_for("tenant-1"), first.pk)
    close(client_for("tenant-2"), second.pk)

    # then
    events = list(OutboxEvent.objects.order_by("sequence"))
    assert [(e.aggregate_id, e.tenant_id) for e in events] == [
        (first.pk, "tenant-1"),
        (second.pk, "tenant-2"),
    ]
    assert [e.payload["tenantId"] for e in events] == ["tenant-1", "tenant-2"]


def test_the_event_is_readable_through_the_repository_of_its_tenant_only(api: Client) -> None:
    # given
    order = ConfirmedOrderFactory.create()

    # when
    close(api, order.pk)

    # then
    own = OutboxRepository(tenant_id="tenant-1").for_aggregate("order", order.pk)
    other = OutboxRepository(tenant_id="tenant-2").for_aggregate("order", order.pk)
    assert [e.event_type for e in own] == ["orders.closed"]
    assert other == []


@committed
@pytest.mark.parametrize(
    ("make_order", "tenant", "if_match", "refusal"),
    [
        (OrderFactory, "tenant-1", None, (409, "invalid_state_transition")),
        (ClosedOrderFactory, "tenant-1", None, (409, "invalid_state_transition")),
        (ConfirmedOrderFactory, "tenant-1", "1", (412, "stale_version")),
        (ConfirmedOrderFactory, "tenant-2", None, (404, "not_found")),
    ],
    ids=["draft", "already-closed", "stale-if-match", "other-tenant"],
)
def test_a_refused_close_writes_no_event(
    client_for: ClientFor,
    make_order: Callable[[], Order],
    tenant: str,
    if_match: str | None,
    refusal: tuple[int, str],
) -> None:
    # given
    order = make_order()

    # when
    response = close(client_for(tenant), order.pk, if_match=if_match)

    # then
    assert_problem(response, *refusal)
    assert not OutboxEvent.objects.exists()


@committed
def test_a_close_of_an_unknown_order_writes_no_event(api: Client) -> None:
    # when
    response = close(api, uuid.uuid4())

    # then
    assert_problem(response, 404, "not_found")
    assert not OutboxEvent.objects.exists()


@committed
def test_a_second_close_adds_no_second_event(api: Client) -> None:
    # given
    order = ConfirmedOrderFactory.create()
    close(api, order.pk)

    # when
    again = close(api, order.pk)

    # then
    assert_problem(again, 409, "invalid_state_transition")
    assert OutboxEvent.objects.filter(aggregate_id=order.pk).count() == 1


def fail_in_python(original: Callable[..., OutboxEvent]) -> Callable[..., OutboxEvent]:
    def add(self: OutboxRepository, **kwargs: Any) -> OutboxEvent:
        raise RuntimeError("outbox unavailable")

    return add


def fail_in_postgres(original: Callable[..., OutboxEvent]) -> Callable[..., OutboxEvent]:
    # A real INSERT that PostgreSQL rejects (aggregate_type is varchar(64)).
    def add(self: OutboxRepository, **kwargs: Any) -> OutboxEvent:
        return original(self, **{**kwargs, "aggregate_type": "x" * 65})

    return add


@committed
@pytest.mark.parametrize("failure", [fail_in_python, fail_in_postgres])
def test_when_the_event_cannot_be_written_the_order_stays_confirmed(
    api: Client,
    monkeypatch: pytest.MonkeyPatch,
    failure: Callable[[Callable[..., OutboxEvent]], Callable[..., OutboxEvent]],
) -> None:
    # given
    order = ConfirmedOrderFactory.create()
    before = Order.objects.values().get(pk=order.pk)
    monkeypatch.setattr(OutboxRepository, "add", failure(OutboxRepository.add))

    # when
    response = close(api, order.pk)

    # then: the UPDATE that closed the order was rolled back with the failed INSERT
    assert_problem(response, 500, "internal_error")
    assert b"Traceback" not in response.content
    assert Order.objects.values().get(pk=order.pk) == before
    assert not OutboxEvent.objects.exists()


@committed
def test_a_close_retried_after_a_failed_event_write_succeeds_once(
    api: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a close that failed writing its event
    order = ConfirmedOrderFactory.create()
    with monkeypatch.context() as patched:
        patched.setattr(OutboxRepository, "add", fail_in_python(OutboxRepository.add))
        assert close(api, order.pk).status_code == 500

    # when
    retried = close(api, order.pk, if_match='"2"')

    # then
    assert retried.status_code == 200
    assert retried.json()["version"] == 3
    assert OutboxEvent.objects.filter(aggregate_id=order.pk).count() == 1
