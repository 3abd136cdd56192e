"""A method the route does not take is 405 before the Idempotency-Key is looked at.

docs/DECISIONS.md orders the checks: route (404/405) before the idempotency key. Found by
Schemathesis (faults/test_schemathesis.py): PATCH /orders with a malformed key was 400.
"""

import pytest
from django.test import Client

from idempotency.models import IdempotencyKey
from orders.tests.http import assert_problem

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("key", ["\x01bad", "good-key", None])
@pytest.mark.parametrize(("method", "path"), [("patch", "/orders"), ("post", "/orders/x")])
def test_unsupported_method_is_405_whatever_the_key(api: Client, method, path, key) -> None:
    # given
    headers = {} if key is None else {"Idempotency-Key": key}

    # when
    response = getattr(api, method)(
        path, data=b"{}", content_type="application/json", headers=headers
    )

    # then
    assert_problem(response, 405, "method_not_allowed")
    assert not IdempotencyKey.objects.exists()
