"""GET /orders query parameters: an empty `limit=` is a bad limit, not a missing one.

Found by Schemathesis (faults/test_schemathesis.py): `?limit=` answered 200 with the
default page size although the schema says `limit` is an integer 1..100.
"""

import pytest

from orders.tests.http import assert_problem

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("query", ["limit=", "limit=&cursor=", "status=draft&limit="])
def test_empty_limit_is_a_validation_error(api, query) -> None:
    response = api.get(f"/orders?{query}")

    body = assert_problem(response, 400, "validation_error")
    assert body["errors"][0]["field"] == "limit"


@pytest.mark.parametrize("query", ["", "status=", "cursor=", "limit=5"])
def test_absent_limit_or_empty_status_and_cursor_are_fine(api, query) -> None:
    assert api.get(f"/orders?{query}").status_code == 200
