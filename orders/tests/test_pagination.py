"""GET /orders: keyset pages, limits, the status filter, cursors and the index behind them."""

import base64
import json
import uuid
import zlib
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from django.core import signing
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from orders import services
from orders.models import Order
from orders.tests.factories import ClosedOrderFactory, ConfirmedOrderFactory, OrderFactory
from orders.tests.http import (
    ClientFor,
    Concurrently,
    assert_problem,
    create,
    get,
    list_orders,
)
from orders_project.timestamps import format_timestamp

pytestmark = pytest.mark.django_db


def newest_first(orders: list[Order]) -> list[str]:
    """The ids in the contract's order: createdAt DESC, then id DESC."""
    return [str(o.pk) for o in sorted(orders, key=lambda o: (o.created_at, o.pk), reverse=True)]


def spaced_orders(count: int, **attributes: Any) -> list[Order]:
    """`count` orders one second apart, the newest created now."""
    now = timezone.now()
    return [
        OrderFactory.create(created_at=now - timedelta(seconds=i), **attributes)
        for i in range(count)
    ]


def pages(client: Client, **query: Any) -> Iterator[dict[str, Any]]:
    """Every page of a walk, following nextCursor until it is null."""
    params = dict(query)
    while True:
        response = list_orders(client, **params)
        assert response.status_code == 200, response.content
        page: dict[str, Any] = response.json()
        yield page
        if page["nextCursor"] is None:
            return
        params["cursor"] = page["nextCursor"]


def walk(client: Client, **query: Any) -> list[str]:
    return [item["id"] for page in pages(client, **query) for item in page["items"]]


def flip(cursor: str, index: int) -> str:
    replacement = "A" if cursor[index] != "A" else "B"
    return cursor[:index] + replacement + cursor[index + 1 :]


# --- limits ---------------------------------------------------------------------------


def test_default_limit_is_20(api: Client) -> None:
    # given
    orders = spaced_orders(25)

    # when
    first = list_orders(api).json()
    second = list_orders(api, cursor=first["nextCursor"]).json()

    # then
    assert [item["id"] for item in first["items"]] == newest_first(orders)[:20]
    assert [item["id"] for item in second["items"]] == newest_first(orders)[20:]
    assert second["nextCursor"] is None


@pytest.mark.parametrize("limit", [1, 100])
def test_limits_at_the_edges_are_honoured(api: Client, limit: int) -> None:
    # given
    spaced_orders(101)

    # when
    page = list_orders(api, limit=limit).json()

    # then
    assert len(page["items"]) == limit
    assert page["nextCursor"] is not None


@pytest.mark.parametrize("limit", ["0", "101", "-1", "abc", "1.5", "1e2"])
def test_a_limit_out_of_range_or_not_an_integer_is_a_validation_error(
    api: Client, limit: str
) -> None:
    # given
    OrderFactory.create()

    # when
    response = list_orders(api, limit=limit)

    # then
    problem = assert_problem(response, 400, "validation_error")
    assert [error["field"] for error in problem["errors"]] == ["limit"]


# --- order ----------------------------------------------------------------------------


def test_items_are_newest_first_with_the_id_breaking_ties(api: Client) -> None:
    # given: three groups of orders created in the very same microsecond
    now = timezone.now()
    orders = [
        OrderFactory.create(created_at=now - timedelta(seconds=group))
        for group in (0, 1, 2)
        for _ in range(4)
    ]

    # when
    items = list_orders(api).json()["items"]

    # then
    ids = [item["id"] for item in items]
    assert ids == newest_first(orders)
    assert ids != [str(o.pk) for o in orders]  # the tie-break did some work
    created = [item["createdAt"] for item in items]
    assert created == sorted(created, reverse=True)


def test_ties_split_across_a_page_boundary_lose_and_repeat_nothing(api: Client) -> None:
    # given: more orders of one instant than fit on a page
    now = timezone.now()
    orders = [OrderFactory.create(created_at=now) for _ in range(7)]
    orders += [OrderFactory.create(created_at=now - timedelta(microseconds=1)) for _ in range(3)]

    # when
    walked = walk(api, limit=3)

    # then
    assert walked == newest_first(orders)


def test_walking_every_page_returns_every_order_exactly_once(api: Client) -> None:
    # given
    orders = spaced_orders(47)
    OrderFactory.create_batch(5, tenant_id="tenant-2")

    # when
    walked_pages = list(pages(api, limit=10))

    # then
    assert [len(page["items"]) for page in walked_pages] == [10, 10, 10, 10, 7]
    walked = [item["id"] for page in walked_pages for item in page["items"]]
    assert walked == newest_first(orders)


def test_the_last_page_has_a_null_next_cursor_even_when_exactly_full(api: Client) -> None:
    # given
    spaced_orders(20)

    # when
    page = list_orders(api, limit=20).json()

    # then
    assert len(page["items"]) == 20
    assert page["nextCursor"] is None


def test_an_empty_tenant_lists_nothing(api: Client) -> None:
    # given
    OrderFactory.create(tenant_id="tenant-2")

    # when
    response = list_orders(api)

    # then
    assert response.status_code == 200
    assert response.json() == {"items": [], "nextCursor": None}


def test_items_are_full_order_representations(api: Client) -> None:
    # given
    order = ClosedOrderFactory.create(total_cents=77)

    # when
    item = list_orders(api).json()["items"][0]

    # then
    assert item == get(api, order.pk).json()


# --- status filter --------------------------------------------------------------------


@pytest.mark.parametrize("status", ["draft", "confirmed", "closed"])
def test_the_status_filter_walks_only_orders_in_that_status(api: Client, status: str) -> None:
    # given
    now = timezone.now()
    by_status: dict[str, list[Order]] = {"draft": [], "confirmed": [], "closed": []}
    for i in range(30):
        kind = ("draft", "confirmed", "closed")[i % 3]
        created_at = now - timedelta(seconds=i)
        by_status[kind].append(OrderFactory.create(created_at=created_at, **{kind: True}))
    OrderFactory.create(tenant_id="tenant-2", **{status: True})

    # when
    walked = walk(api, status=status, limit=3)

    # then
    assert walked == newest_first(by_status[status])


def test_an_empty_status_means_no_filter(api: Client) -> None:
    # given
    orders = [OrderFactory.create(), ConfirmedOrderFactory.create(), ClosedOrderFactory.create()]

    # when
    walked = walk(api, status="")

    # then
    assert sorted(walked) == sorted(str(o.pk) for o in orders)


@pytest.mark.parametrize("status", ["open", "DRAFT", "draft,confirmed"])
def test_an_unknown_status_is_a_validation_error(api: Client, status: str) -> None:
    # when
    response = list_orders(api, status=status)

    # then
    problem = assert_problem(response, 400, "validation_error")
    assert [error["field"] for error in problem["errors"]] == ["status"]


# --- cursors --------------------------------------------------------------------------


def test_a_page_with_more_links_to_the_next_one_and_the_last_does_not(api: Client) -> None:
    # given
    OrderFactory.create_batch(3)

    # when
    first = list_orders(api, limit="2", status="draft")
    last = list_orders(api, limit=2, status="draft", cursor=first.json()["nextCursor"])

    # then: RFC 8288, the same query with the next cursor (URL-encoded)
    query = urlencode({"limit": 2, "status": "draft", "cursor": first.json()["nextCursor"]})
    assert first["Link"] == f'</orders?{query}>; rel="next"'
    assert len(last.json()["items"]) == 1
    assert not last.has_header("Link")


@pytest.fixture
def cursor(api: Client) -> str:
    """The nextCursor of tenant-1's first page of 2, unfiltered."""
    spaced_orders(5)
    next_cursor: str = list_orders(api, limit=2).json()["nextCursor"]
    return next_cursor


@pytest.mark.parametrize("position", [0, 10, -20, -1])
def test_a_tampered_cursor_is_refused(api: Client, cursor: str, position: int) -> None:
    # when
    response = list_orders(api, limit="2", cursor=flip(cursor, position))

    # then
    assert_problem(response, 400, "invalid_cursor")


@pytest.mark.parametrize(
    "forged",
    [
        "abc",
        "::",
        json.dumps(["2026-01-01T00:00:00.000000Z", uuid.uuid4().hex]),
        "x" * 2000,
    ],
    ids=["garbage", "separators", "unsigned-keyset", "over-long"],
)
def test_a_forged_cursor_is_invalid_cursor(api: Client, forged: str) -> None:
    # given
    OrderFactory.create()

    # when
    response = list_orders(api, cursor=forged)

    # then
    assert_problem(response, 400, "invalid_cursor")


def signed_for_tenant_1(payload: str) -> str:
    """`payload` signed as a cursor of tenant-1's unfiltered walk: what anyone holding
    the secret key (a leaked one, the public development one) could send."""
    return signing.TimestampSigner(salt="orders.cursor:tenant-1:").sign(payload)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


@pytest.mark.parametrize(
    "payload",
    [
        "." + b64(b"this is not zlib data"),
        "." + b64(zlib.compress(json.dumps(["a" * 3_000_000, "b"]).encode())),
        "." + b64(zlib.compress(json.dumps(["2026-01-01T00:00:00.000000Z", "0" * 32]).encode())),
        b64(b"\xff\xfe not json"),
        b64(json.dumps([1, 2]).encode()),
        b64(json.dumps([None, uuid.uuid4().hex]).encode()),
        b64(json.dumps(["2026-01-01T00:00:00.000000Z", ["x"]]).encode()),
        b64(json.dumps({"a": 1}).encode()),
        b64(json.dumps(["yesterday", uuid.uuid4().hex]).encode()),
    ],
    ids=[
        "bad-zlib",
        "inflates-to-3MB",
        "compressed-keyset",
        "not-json",
        "numbers",
        "null-timestamp",
        "list-as-id",
        "object",
        "bad-timestamp",
    ],
)
def test_a_validly_signed_cursor_that_does_not_decode_is_invalid_cursor(
    api: Client, payload: str
) -> None:
    # given
    OrderFactory.create()

    # when
    response = list_orders(api, cursor=signed_for_tenant_1(payload))

    # then: never a 500, and nothing inflated
    assert_problem(response, 400, "invalid_cursor")


def test_the_signing_in_these_tests_is_the_one_cursors_use(api: Client) -> None:
    # given: a keyset signed as the tests above sign their payloads
    order = OrderFactory.create()
    keyset = json.dumps([format_timestamp(order.created_at), order.pk.hex]).encode()

    # when
    response = list_orders(api, cursor=signed_for_tenant_1(b64(keyset)))

    # then: accepted (and the order itself is not after itself)
    assert response.status_code == 200, response.content


def test_a_cursor_of_one_tenant_is_refused_for_another(cursor: str, client_for: ClientFor) -> None:
    # given
    spaced_orders(5, tenant_id="tenant-2")

    # when
    response = list_orders(client_for("tenant-2"), limit="2", cursor=cursor)

    # then
    assert_problem(response, 400, "invalid_cursor")


@pytest.mark.parametrize("used_with", [{"status": "confirmed"}, {}, {"status": ""}])
def test_a_cursor_of_one_filter_is_refused_for_another(
    api: Client, used_with: dict[str, str]
) -> None:
    # given
    spaced_orders(5)
    spaced_orders(5, confirmed=True)
    draft_cursor = list_orders(api, status="draft", limit="2").json()["nextCursor"]

    # when
    response = list_orders(api, limit="2", cursor=draft_cursor, **used_with)

    # then
    assert_problem(response, 400, "invalid_cursor")


def test_a_cursor_stays_valid_for_its_own_walk(api: Client, cursor: str) -> None:
    # when
    first_use = list_orders(api, limit="2", cursor=cursor)
    second_use = list_orders(api, limit="2", cursor=cursor)

    # then: the same page; the next cursors carry their signing second, so compare what
    # they lead to (two uses a second boundary apart got different tokens, a flaky test)
    assert first_use.status_code == 200
    assert first_use.json()["items"] == second_use.json()["items"]
    after_first = list_orders(api, limit="2", cursor=first_use.json()["nextCursor"])
    after_second = list_orders(api, limit="2", cursor=second_use.json()["nextCursor"])
    assert after_first.json()["items"] == after_second.json()["items"] != []


# --- stability ------------------------------------------------------------------------


def test_orders_created_between_pages_neither_repeat_nor_hide_others(api: Client) -> None:
    # given
    original = spaced_orders(50)
    walk_pages = pages(api, limit=7)
    seen = [item["id"] for item in next(walk_pages)["items"]]

    # when: 30 more orders arrive while the client keeps paging
    for page in walk_pages:
        for _ in range(4):
            assert create(api).status_code == 201
        seen += [item["id"] for item in page["items"]]
    for _ in range(30 - 4 * 7):
        create(api)

    # then
    assert Order.objects.count() == 80
    assert seen == newest_first(original)


@pytest.mark.django_db(transaction=True)
def test_paging_while_orders_are_created_concurrently_is_stable(
    client_for: ClientFor, concurrently: Concurrently
) -> None:
    # given: 50 orders and the first page of a walk
    original = spaced_orders(50)
    first = list_orders(client_for("tenant-1"), limit=5).json()

    def page_or_create(index: int) -> list[str]:
        client = client_for("tenant-1")
        if index == 0:
            rest = pages(client, limit=5, cursor=first["nextCursor"])
            return [item["id"] for page in rest for item in page["items"]]
        assert create(client, key=f"racer-{index}").status_code == 201
        return []

    # when: one client keeps paging while 30 others create orders
    results = concurrently(page_or_create, 31)

    # then
    seen = [item["id"] for item in first["items"]] + results[0]
    assert seen == newest_first(original)
    assert Order.objects.count() == 80


# --- the index ------------------------------------------------------------------------


def plan_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from plan_nodes(child)


def explain_list_query(*, status: str | None, after: Any = None) -> list[dict[str, Any]]:
    """EXPLAIN the exact SQL order_list sends, and return the plan's nodes."""
    with CaptureQueriesContext(connection) as captured:
        services.order_list(tenant_id="tenant-1", status=status, limit=20, after=after)
    (query,) = captured.captured_queries
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + query["sql"])
        (plan,) = cursor.fetchone()[0]
    return list(plan_nodes(plan["Plan"]))


@pytest.fixture
def thousands_of_orders() -> None:
    """3,000 orders of tenant-1 in every status, 2,000 of others, and fresh statistics."""
    now = timezone.now()
    statuses: list[dict[str, bool]] = [{}, {"confirmed": True}, {"closed": True}]
    rows = [
        OrderFactory.build(created_at=now - timedelta(seconds=i), **statuses[i % 3])
        for i in range(3000)
    ]
    rows += [
        OrderFactory.build(tenant_id=f"tenant-{2 + i % 4}", created_at=now - timedelta(seconds=i))
        for i in range(2000)
    ]
    Order.objects.bulk_create(rows)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE orders")


@pytest.mark.usefixtures("thousands_of_orders")
@pytest.mark.parametrize(
    ("status", "index"),
    [(None, "orders_tenant_created_id_idx"), ("confirmed", "orders_tenant_status_idx")],
)
@pytest.mark.parametrize("page", ["first", "later"])
def test_the_list_query_reads_the_index_in_order_without_sorting(
    status: str | None, index: str, page: str
) -> None:
    # given
    after = None
    if page == "later":
        after = services.order_list(
            tenant_id="tenant-1", status=status, limit=500, after=None
        ).next

    # when
    nodes = explain_list_query(status=status, after=after)

    # then
    node_types = [node["Node Type"] for node in nodes]
    assert not any("Sort" in node_type for node_type in node_types), node_types
    assert "Seq Scan" not in node_types
    (scan,) = [node for node in nodes if node.get("Index Name") == index]
    # A later page starts the scan at the keyset instead of filtering rows up to it.
    assert ("ROW(created_at, id) <" in scan["Index Cond"]) is (page == "later"), scan
    assert "Filter" not in scan, scan
