"""A body Django cannot read by its Content-Length (chunked) is refused, never ignored.

The same requests through real gunicorn: faults/test_security.py.
"""

import pytest
from django.test import Client

from orders.models import Order
from orders.tests.factories import DraftOrderFactory
from orders.tests.http import assert_problem

pytestmark = pytest.mark.django_db

CHUNKED = {"Transfer-Encoding": "chunked", "Idempotency-Key": "chunked-1"}


def test_a_chunked_create_is_refused_and_creates_nothing(api: Client) -> None:
    # when
    response = api.post("/orders", data=b"[", content_type="application/json", headers=CHUNKED)

    # then
    assert_problem(response, 411, "length_required")
    assert not Order.objects.exists()


def test_a_chunked_confirm_is_refused_and_changes_nothing(api: Client) -> None:
    # given
    order = DraftOrderFactory.create(tenant_id="tenant-1")

    # when
    response = api.patch(
        f"/orders/{order.pk}/confirm",
        data=b'{"totalCents": 5}',
        content_type="application/json",
        headers={**CHUNKED, "If-Match": "1"},
    )

    # then
    assert_problem(response, 411, "length_required")
    order.refresh_from_db()
    assert (order.status, order.version) == ("draft", 1)


def test_a_chunked_request_anywhere_is_refused() -> None:
    # when
    response = Client().post(
        "/admin/login/",
        data="",
        content_type="text/plain",
        headers={"Transfer-Encoding": "chunked"},
    )

    # then
    assert_problem(response, 411, "length_required")
