"""GET /orders as PostgreSQL runs it: its query parameters, and the plans behind its pages.

The empty `limit=` was found by Schemathesis (faults/test_schemathesis.py): it answered
200 with the default page size although the schema says `limit` is an integer 1..100.
"""

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from orders import services
from orders.models import Order
from orders.repository import Keyset, OrderFilters
from orders.tests.http import assert_problem
from orders_project.tests.plans import (
    blocks_touched,
    executed_plan,
    nodes,
    plan_problems,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("query", ["limit=", "limit=&cursor=", "status=draft&limit="])
def test_empty_limit_is_a_validation_error(api, query) -> None:
    response = api.get(f"/orders?{query}")

    body = assert_problem(response, 400, "validation_error")
    assert body["errors"][0]["field"] == "limit"


@pytest.mark.parametrize("query", ["", "status=", "cursor=", "limit=5"])
def test_absent_limit_or_empty_status_and_cursor_are_fine(api, query) -> None:
    assert api.get(f"/orders?{query}").status_code == 200


# --- the plans ------------------------------------------------------------------------

TENANT_ORDERS = 4_000
TENANTS = 50
LIMIT = 20
TENANT = "many-1"


@pytest.fixture(scope="module")
def many_orders(django_db_setup: Any, django_db_blocker: Any) -> Any:
    """4,000 orders of each of fifty tenants, interleaved, one second apart within a
    tenant and in turn draft, confirmed and closed, with fresh statistics: enough that
    a scan which does not start at the cursor reads thousands of rows more. Committed
    once for the module's tests, deleted after them. Returns the newest order's time."""
    now = timezone.now()
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO orders (id, tenant_id, status, version, total_cents, created_at,"
            " updated_at, closed_at)"
            " SELECT gen_random_uuid(), 'many-' || mod(n, %s),"
            " (ARRAY['draft', 'confirmed', 'closed'])[1 + mod(n / %s, 3)], 1,"
            " CASE WHEN mod(n / %s, 3) > 0 THEN 100 END,"
            " %s - (n / %s) * interval '1 second', %s,"
            " CASE WHEN mod(n / %s, 3) = 2 THEN %s END"
            " FROM generate_series(0, %s) AS n",
            [
                TENANTS,
                TENANTS,
                TENANTS,
                now,
                TENANTS,
                now,
                TENANTS,
                now,
                TENANTS * TENANT_ORDERS - 1,
            ],
        )
        cursor.execute("ANALYZE orders")
    yield now
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM orders WHERE tenant_id LIKE 'many-%%'")
        cursor.execute("ANALYZE orders")


def position(now: Any, depth: int) -> Keyset:
    """The keyset of tenant-1's order `depth` seconds old (the walk's row `depth`)."""
    return Keyset.of(
        Order.objects.get(tenant_id=TENANT, created_at=now - timedelta(seconds=depth))
    )


def executed_page(filters: OrderFilters, cursor: services.PageCursor | None) -> dict[str, Any]:
    """The plan, as it ran with page counts, of the one statement order_list sends."""
    with CaptureQueriesContext(connection) as captured:
        services.order_list(tenant_id=TENANT, filters=filters, limit=LIMIT, cursor=cursor)
    (query,) = captured.captured_queries
    return executed_plan(query["sql"], buffers=True)


# The range leaves a thousand rows out at either end of the walk.
FILTERS = {
    "unfiltered": lambda now: OrderFilters(),
    "status": lambda now: OrderFilters(status="confirmed"),
    "range": lambda now: OrderFilters(
        created_from=now - timedelta(seconds=TENANT_ORDERS - 500),
        created_before=now - timedelta(seconds=500),
    ),
    "status and range": lambda now: OrderFilters(
        status="closed",
        created_from=now - timedelta(seconds=TENANT_ORDERS - 500),
        created_before=now - timedelta(seconds=500),
    ),
}
# Cursors near the newest end of the range, in its middle and near its oldest end.
DEPTHS = (600, TENANT_ORDERS // 2, TENANT_ORDERS - 600)


@pytest.mark.parametrize("direction", list(services.Direction))
@pytest.mark.parametrize("filtered", list(FILTERS))
def test_every_page_starts_its_index_scan_at_the_cursor(
    many_orders: Any, filtered: str, direction: services.Direction
) -> None:
    # given: the tenant's walk under these filters, and cursors at three depths of it
    now = many_orders
    filters = FILTERS[filtered](now)
    cursors = [
        services.PageCursor(direction=direction, at=position(now, depth)) for depth in DEPTHS
    ]

    # when
    first = executed_page(filters, None)
    at_cursors = [executed_page(filters, cursor) for cursor in cursors]

    # then: the tenant's index read in the walk's order, nothing sorted, no row read
    # past the page
    index = "orders_tenant_status_idx" if filters.status else "orders_tenant_created_id_idx"
    for plan in (first, *at_cursors):
        kinds = [node["Node Type"] for node in nodes(plan)]
        assert not [kind for kind in kinds if "Sort" in kind], kinds
        assert {node.get("Index Name") for node in nodes(plan) if "Scan" in node["Node Type"]} == {
            index
        }, kinds
        assert plan_problems(plan, row_limit=LIMIT + 1) == [], plan
    # the keyset is an index condition of every scan...
    for plan in at_cursors:
        scans = [node for node in nodes(plan) if "Index Cond" in node]
        assert scans, plan
        assert all("ROW(created_at, id)" in node["Index Cond"] for node in scans), scans
    # ...so a page costs the same pages wherever its cursor is: a scan that started at
    # the top, or at a range bound, would step over thousands more index entries for
    # one of these cursors than for another
    touched = [blocks_touched(plan) for plan in at_cursors]
    assert max(touched) - min(touched) <= 6, touched
