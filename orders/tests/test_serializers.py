"""The lean order representation renders exactly what the documented serializer does."""

from typing import Any

import pytest
from rest_framework.renderers import JSONRenderer

from orders.api.serializers import OrderOutputSerializer, order_representation
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
