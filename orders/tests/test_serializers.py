"""The wire shapes: an order as the contract spells it, and the one check of a total."""

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from drf_orjson_renderer.renderers import ORJSONRenderer

from orders.api.serializers import OrderConfirmInputSerializer, OrderOutputSerializer
from orders.models import MAX_TOTAL_CENTS, Order
from orders.tests.factories import ClosedOrderFactory, ConfirmedOrderFactory, OrderFactory
from orders_project.timestamps import WIRE_FORMAT

pytestmark = pytest.mark.django_db

ORDER_ID = uuid.UUID("0b7e6c1e-1f4a-4c4e-9a57-3f0e2d1c5b6a")
CREATED = datetime(2026, 11, 26, 6, 20, 0, 123456, tzinfo=UTC)
CLOSED = datetime(2026, 11, 27, 8, 0, 0, tzinfo=UTC)


def test_an_order_renders_as_the_contract_spells_it() -> None:
    # given
    order = Order(
        id=ORDER_ID,
        tenant_id="tenant-1",
        status=Order.Status.CLOSED,
        version=3,
        total_cents=1250,
        created_at=CREATED,
        updated_at=CLOSED,
        closed_at=CLOSED,
    )

    # when
    rendered = ORJSONRenderer().render(OrderOutputSerializer(order).data)

    # then
    assert rendered == (
        b'{"id":"0b7e6c1e-1f4a-4c4e-9a57-3f0e2d1c5b6a","tenantId":"tenant-1",'
        b'"status":"closed","version":3,"totalCents":1250,'
        b'"createdAt":"2026-11-26T06:20:00.123456Z","updatedAt":"2026-11-27T08:00:00.000000Z",'
        b'"closedAt":"2026-11-27T08:00:00.000000Z"}'
    )


@pytest.mark.parametrize("factory", [OrderFactory, ConfirmedOrderFactory, ClosedOrderFactory])
def test_an_order_read_back_renders_its_instants_in_utc(factory: Any) -> None:
    # given: timestamps as the database returns them, in whatever zone the connection uses
    order = factory.create()
    order.refresh_from_db()

    # when
    rendered = OrderOutputSerializer(order).data

    # then: in UTC, the text DRF's own DateTimeField writes with DATETIME_FORMAT
    instants = {"createdAt": order.created_at, "updatedAt": order.updated_at}
    instants["closedAt"] = order.closed_at
    for name, instant in instants.items():
        expected = instant and instant.astimezone(UTC).strftime(WIRE_FORMAT)
        assert rendered[name] == expected, name
    assert (rendered["id"], rendered["status"]) == (str(order.pk), order.status)
    assert (rendered["version"], rendered["totalCents"]) == (order.version, order.total_cents)


def test_a_draft_just_built_in_memory_renders_its_nulls() -> None:
    # given: the shape a service returns before any re-read (status as an enum member)
    order = OrderFactory.build()

    # when
    rendered = OrderOutputSerializer(order).data

    # then
    assert rendered["status"] == "draft"
    assert rendered["totalCents"] is None
    assert rendered["closedAt"] is None


@pytest.mark.parametrize("total_cents", [0, 1, MAX_TOTAL_CENTS])
def test_confirm_input_takes_a_total_in_range(total_cents: int) -> None:
    # when
    body = OrderConfirmInputSerializer(data={"totalCents": total_cents})

    # then
    assert body.is_valid(), body.errors
    assert body.validated_data == {"totalCents": total_cents}


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ({"totalCents": -1}, "min_value"),
        ({"totalCents": MAX_TOTAL_CENTS + 1}, "max_value"),
        ({"totalCents": True}, "invalid"),
        ({"totalCents": "5000"}, "invalid"),
        ({"totalCents": 5000.0}, "invalid"),
        ({"totalCents": None}, "null"),
        ({}, "required"),
    ],
)
def test_confirm_input_refuses_anything_but_a_json_integer_in_range(
    data: dict[str, Any], code: str
) -> None:
    # when
    body = OrderConfirmInputSerializer(data=data)

    # then: the one validation of totalCents; the service trusts what passes here
    assert not body.is_valid()
    assert [error.code for error in body.errors["totalCents"]] == [code]
