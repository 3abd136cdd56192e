"""The lean order representation renders exactly what the documented serializer does."""

from typing import Any

import pytest
from rest_framework.renderers import JSONRenderer

from orders.api.serializers import (
    OrderConfirmInputSerializer,
    OrderOutputSerializer,
    order_representation,
)
from orders.models import MAX_TOTAL_CENTS
from orders.tests.factories import ClosedOrderFactory, ConfirmedOrderFactory, OrderFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("factory", [OrderFactory, ConfirmedOrderFactory, ClosedOrderFactory])
def test_representation_renders_the_same_bytes_as_the_serializer(factory: Any) -> None:
    # given
    order = factory.create()
    order.refresh_from_db()

    # when
    lean = JSONRenderer().render(order_representation(order))

    # then
    assert lean == JSONRenderer().render(OrderOutputSerializer(order).data)


def test_representation_of_an_order_just_built_in_memory() -> None:
    # given: the shape a service returns before any re-read (status as an enum member)
    order = OrderFactory.build()

    # when
    lean = JSONRenderer().render(order_representation(order))

    # then
    assert lean == JSONRenderer().render(OrderOutputSerializer(order).data)


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
