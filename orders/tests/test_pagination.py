"""GET /orders: keyset pages both ways, limits, filters, cursors and the feed of new orders.

The plans behind them are read in test_list_query.py.
"""

import base64
import json
import uuid
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from django.core import signing
from django.test import Client
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


def pages_back(client: Client, **query: Any) -> Iterator[dict[str, Any]]:
    """Every page from `cursor` toward the newest, following prevCursor until a page
    comes back empty."""
    params = dict(query)
    while True:
        response = list_orders(client, **params)
        assert response.status_code == 200, response.content
        page: dict[str, Any] = response.json()
        if not page["items"]:
            return
        yield page
        params["cursor"] = page["prevCursor"]


def walk(client: Client, **query: Any) -> list[str]:
    return [item["id"] for page in pages(client, **query) for item in page["items"]]


def walk_back(client: Client, **query: Any) -> list[str]:
    """The ids from `cursor` to the newest, newest first, as the pages back list them."""
    ids: list[str] = []
    for page in pages_back(client, **query):
        ids = [item["id"] for item in page["items"]] + ids
    return ids


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
    assert response.json() == {"items": [], "nextCursor": None, "prevCursor": None}


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


def test_a_page_links_to_the_pages_on_either_side_and_the_last_to_no_next(
    api: Client,
) -> None:
    # given
    OrderFactory.create_batch(3)

    # when
    first = list_orders(api, limit="2", status="draft")
    last = list_orders(api, limit=2, status="draft", cursor=first.json()["nextCursor"])

    # then: RFC 8288, the same query with each cursor (URL-encoded)
    def link(cursor: str, rel: str) -> str:
        query = urlencode({"limit": 2, "status": "draft", "cursor": cursor})
        return f'</orders?{query}>; rel="{rel}"'

    assert first["Link"] == ", ".join(
        [link(first.json()["nextCursor"], "next"), link(first.json()["prevCursor"], "prev")]
    )
    assert len(last.json()["items"]) == 1
    assert last.json()["nextCursor"] is None
    assert last["Link"] == link(last.json()["prevCursor"], "prev")


def test_an_empty_first_page_has_no_link(api: Client) -> None:
    # when
    response = list_orders(api)

    # then
    assert response.status_code == 200
    assert not response.has_header("Link")


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
    salt = 'orders.cursor:["tenant-1", null, null, null]'
    return signing.TimestampSigner(salt=salt).sign(payload)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


TIMESTAMP = "2026-01-01T00:00:00.000000Z"


@pytest.mark.parametrize(
    "payload",
    [
        "." + b64(b"this is not zlib data"),
        "." + b64(zlib.compress(json.dumps(["older", "a" * 3_000_000, "b"]).encode())),
        "." + b64(zlib.compress(json.dumps(["older", TIMESTAMP, "0" * 32]).encode())),
        b64(b"\xff\xfe not json"),
        b64(json.dumps([1, 2, 3]).encode()),
        b64(json.dumps(["older", None, uuid.uuid4().hex]).encode()),
        b64(json.dumps(["older", TIMESTAMP, ["x"]]).encode()),
        b64(json.dumps({"a": 1}).encode()),
        b64(json.dumps(["older", "yesterday", uuid.uuid4().hex]).encode()),
        b64(json.dumps(["sideways", TIMESTAMP, uuid.uuid4().hex]).encode()),
        b64(json.dumps([TIMESTAMP, uuid.uuid4().hex]).encode()),
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
        "unknown-direction",
        "no-direction",
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


@pytest.mark.parametrize("direction", ["older", "newer"])
def test_the_signing_in_these_tests_is_the_one_cursors_use(api: Client, direction: str) -> None:
    # given: a keyset signed as the tests above sign their payloads
    order = OrderFactory.create()
    keyset = json.dumps([direction, format_timestamp(order.created_at), order.pk.hex]).encode()

    # when
    response = list_orders(api, cursor=signed_for_tenant_1(b64(keyset)))

    # then: accepted (and the order itself is neither before nor after itself)
    assert response.status_code == 200, response.content
    assert response.json()["items"] == []


def test_a_cursor_of_one_tenant_is_refused_for_another(cursor: str, client_for: ClientFor) -> None:
    # given
    spaced_orders(5, tenant_id="tenant-2")

    # when
    response = list_orders(client_for("tenant-2"), limit="2", cursor=cursor)

    # then
    assert_problem(response, 400, "invalid_cursor")


HOUR_AGO = "2020-01-01T00:00:00Z"
LATER = "2999-01-01T00:00:00Z"
ISSUED_WITH = {"status": "draft", "createdFrom": HOUR_AGO, "createdBefore": LATER}


@pytest.mark.parametrize("rel", ["nextCursor", "prevCursor"])
@pytest.mark.parametrize(
    "used_with",
    [
        {"status": "confirmed", "createdFrom": HOUR_AGO, "createdBefore": LATER},
        {"createdFrom": HOUR_AGO, "createdBefore": LATER},
        {"status": "", "createdFrom": HOUR_AGO, "createdBefore": LATER},
        {"status": "draft", "createdBefore": LATER},
        {"status": "draft", "createdFrom": HOUR_AGO},
        {"status": "draft", "createdFrom": "2020-01-01T00:00:01Z", "createdBefore": LATER},
        {"status": "draft", "createdFrom": HOUR_AGO, "createdBefore": "2998-01-01T00:00:00Z"},
        {"status": "draft", "createdFrom": LATER, "createdBefore": HOUR_AGO},
        {},
    ],
)
def test_a_cursor_of_one_filter_is_refused_for_another(
    api: Client, used_with: dict[str, str], rel: str
) -> None:
    # given: cursors issued for drafts created in a range
    spaced_orders(5)
    spaced_orders(5, confirmed=True)
    issued = list_orders(api, limit="2", **ISSUED_WITH).json()[rel]

    # when
    response = list_orders(api, limit="2", cursor=issued, **used_with)

    # then
    assert_problem(response, 400, "invalid_cursor")


def test_a_cursor_is_bound_to_the_instants_not_to_their_spelling(api: Client) -> None:
    # given
    spaced_orders(5)
    issued = list_orders(api, limit=2, createdFrom="2020-01-01T01:00:00+01:00").json()

    # when: the same instant in UTC, lower-case `t` and `z`, and fractional seconds
    response = list_orders(
        api, limit=2, createdFrom="2020-01-01t00:00:00.000z", cursor=issued["nextCursor"]
    )

    # then
    assert response.status_code == 200, response.content
    assert len(response.json()["items"]) == 2


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


@pytest.mark.django_db(transaction=True)
def test_paging_forward_and_back_while_orders_are_created_concurrently_is_stable(
    client_for: ClientFor, concurrently: Concurrently
) -> None:
    # given: 60 orders, a walk's first page, and 30 racers that will each create one
    original = newest_first(spaced_orders(60))
    first = list_orders(client_for("tenant-1"), limit=7).json()

    def walk_or_create(index: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        client = client_for("tenant-1")
        if index == 0:
            forward = list(pages(client, limit=7, cursor=first["nextCursor"]))
            back = list(pages_back(client, limit=7, cursor=forward[-1]["prevCursor"]))
            return forward, back
        assert create(client, key=f"racer-{index}").status_code == 201
        return [], []

    # when: one client walks to the end and back to the newest while the others create
    (forward, back), *_ = concurrently(walk_or_create, 31)

    # then: forward, every order that existed once and in order, and nothing newer
    seen_forward = [item["id"] for page in [first, *forward] for item in page["items"]]
    assert seen_forward == original
    # back: every order that existed, once, newest first; what it found newer than those
    # was created by the racers
    last_page = [item["id"] for item in forward[-1]["items"]]
    seen_back = [item["id"] for page in reversed(back) for item in page["items"]]
    assert len(set(seen_back)) == len(seen_back)
    assert [order for order in seen_back if order in original] + last_page == original
    racers = set(Order.objects.exclude(pk__in=original).values_list("pk", flat=True))
    assert {uuid.UUID(order) for order in seen_back if order not in original} <= racers
    assert len(racers) == 30


# --- paging back: prevCursor ------------------------------------------------------------


def test_walking_back_from_the_last_page_lists_every_newer_order_once(api: Client) -> None:
    # given: a walk to the last page
    orders = spaced_orders(23)
    OrderFactory.create_batch(3, tenant_id="tenant-2")
    last = list(pages(api, limit=5))[-1]

    # when
    back = list(pages_back(api, limit=5, cursor=last["prevCursor"]))

    # then: full pages of the orders just newer, each still listed newest first
    assert [len(page["items"]) for page in back] == [5, 5, 5, 5]
    expected = newest_first(orders)
    assert [item["id"] for item in back[0]["items"]] == expected[15:20]
    assert [item["id"] for item in back[-1]["items"]] == expected[:5]
    assert walk_back(api, limit=5, cursor=last["prevCursor"]) == expected[:20]


def test_a_page_back_takes_the_orders_nearest_to_its_cursor(api: Client) -> None:
    # given: a page in the middle of the walk
    orders = newest_first(spaced_orders(10))
    middle = list_orders(api, limit=2, cursor=list_orders(api, limit=6).json()["nextCursor"])

    # when
    back = list_orders(api, limit=3, cursor=middle.json()["prevCursor"]).json()

    # then: the three just newer than the page's first item, not the three newest
    assert [item["id"] for item in middle.json()["items"]] == orders[6:8]
    assert [item["id"] for item in back["items"]] == orders[3:6]
    # and its cursors lead on both ways: to the newer ones, and back to the middle page
    newer = list_orders(api, limit=3, cursor=back["prevCursor"]).json()
    older = list_orders(api, limit=2, cursor=back["nextCursor"]).json()
    assert [item["id"] for item in newer["items"]] == orders[0:3]
    assert [item["id"] for item in older["items"]] == orders[6:8]


def test_ties_split_across_a_page_boundary_lose_and_repeat_nothing_going_back(
    api: Client,
) -> None:
    # given: more orders of one instant than fit on a page, and the walk's last page
    now = timezone.now()
    orders = [OrderFactory.create(created_at=now) for _ in range(7)]
    orders += [OrderFactory.create(created_at=now - timedelta(microseconds=1)) for _ in range(3)]
    last = list(pages(api, limit=3))[-1]

    # when
    walked = walk_back(api, limit=3, cursor=last["prevCursor"])

    # then
    assert walked + [item["id"] for item in last["items"]] == newest_first(orders)


def test_a_page_back_whose_cursor_row_left_the_filter_has_no_next(api: Client) -> None:
    # given: three drafts, walked two by two, then the oldest is confirmed
    oldest, middle, newest = reversed(spaced_orders(3))
    last = list(pages(api, status="draft", limit=2))[-1]
    assert [item["id"] for item in last["items"]] == [str(oldest.pk)]
    services.order_confirm(
        tenant_id="tenant-1", order_id=oldest.pk, total_cents=1, expected_version=1
    )

    # when
    back = list_orders(api, status="draft", limit=2, cursor=last["prevCursor"]).json()

    # then: no draft is older than the page any more
    assert [item["id"] for item in back["items"]] == [str(newest.pk), str(middle.pk)]
    assert back["nextCursor"] is None


def test_a_page_back_with_older_orders_has_a_next_cursor(api: Client) -> None:
    # given
    orders = newest_first(spaced_orders(4))
    second = list_orders(api, limit=2, cursor=list_orders(api, limit=2).json()["nextCursor"])

    # when
    back = list_orders(api, limit=2, cursor=second.json()["prevCursor"]).json()

    # then
    assert [item["id"] for item in back["items"]] == orders[:2]
    assert back["nextCursor"] is not None


# --- the feed: polling prevCursor -------------------------------------------------------


def test_polling_the_newest_page_finds_only_orders_created_since(api: Client) -> None:
    # given: the newest page, and a poll of it that finds nothing new
    spaced_orders(3)
    top = list_orders(api, limit=10).json()
    quiet = list_orders(api, limit=10, cursor=top["prevCursor"]).json()
    assert quiet["items"] == []
    assert quiet["nextCursor"] is None
    assert quiet["prevCursor"] is not None

    # when: four orders are created, and the quiet poll's cursor is polled
    created = [create(api).json()["id"] for _ in range(4)]
    first = list_orders(api, limit=3, cursor=quiet["prevCursor"]).json()
    second = list_orders(api, limit=3, cursor=first["prevCursor"]).json()
    caught_up = list_orders(api, limit=3, cursor=second["prevCursor"]).json()

    # then: the oldest new ones first, each page newest first, then nothing again
    assert [item["id"] for item in first["items"]] == created[2::-1]
    assert [item["id"] for item in second["items"]] == created[3:]
    assert caught_up["items"] == []
    assert caught_up["prevCursor"] is not None


def test_an_empty_page_reached_by_a_cursor_keeps_its_position(api: Client) -> None:
    # given: a poll that found nothing
    spaced_orders(2)
    top = list_orders(api).json()
    quiet = list_orders(api, cursor=top["prevCursor"])

    # when: its prevCursor is polled again, and after an order is created
    again = list_orders(api, cursor=quiet.json()["prevCursor"]).json()
    order = create(api).json()
    found = list_orders(api, cursor=again["prevCursor"]).json()

    # then
    assert again["items"] == []
    assert [item["id"] for item in found["items"]] == [order["id"]]
    assert quiet["Link"].endswith('; rel="prev"')
    assert 'rel="next"' not in quiet["Link"]


def test_a_feed_keeps_to_its_filters(api: Client) -> None:
    # given: a poll of the drafts
    spaced_orders(2)
    top = list_orders(api, status="draft").json()

    # when: a confirmed order and a draft are created, and the drafts' feed is polled
    ConfirmedOrderFactory.create()
    draft = OrderFactory.create()
    OrderFactory.create(tenant_id="tenant-2")
    polled = list_orders(api, status="draft", cursor=top["prevCursor"]).json()

    # then
    assert [item["id"] for item in polled["items"]] == [str(draft.pk)]


# --- createdAt ranges ------------------------------------------------------------------


@pytest.fixture
def hourly() -> list[Order]:
    """Orders of tenant-1 on each hour of 2026-01-01, in every status, and tenant-2's."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    statuses: list[dict[str, bool]] = [{}, {"confirmed": True}, {"closed": True}]
    made = [
        OrderFactory.create(created_at=start + timedelta(hours=h), **statuses[h % 3])
        for h in range(24)
    ]
    for h in range(24):
        OrderFactory.create(tenant_id="tenant-2", created_at=start + timedelta(hours=h))
    return made


def between(orders: list[Order], start: int, end: int, status: str | None = None) -> list[str]:
    """The ids of the orders created from hour `start` (inclusive) to `end` (exclusive)."""
    return newest_first(
        [
            o
            for o in orders
            if start <= o.created_at.hour < end and (status is None or o.status == status)
        ]
    )


def test_created_from_is_inclusive_and_created_before_exclusive(
    api: Client, hourly: list[Order]
) -> None:
    # when
    listed = list_orders(
        api, createdFrom="2026-01-01T05:00:00Z", createdBefore="2026-01-01T09:00:00Z"
    ).json()

    # then
    assert [item["id"] for item in listed["items"]] == between(hourly, 5, 9)


@pytest.mark.parametrize(
    ("query", "start", "end"),
    [
        ({"createdFrom": "2026-01-01T20:00:00Z"}, 20, 24),
        ({"createdBefore": "2026-01-01T03:00:00Z"}, 0, 3),
        ({"createdFrom": "2026-01-01T10:00:00+02:00"}, 8, 24),
        ({"createdBefore": "2025-12-31T22:30:00-02:00"}, 0, 1),
        ({"createdFrom": "2026-01-01T05:00:00.000001Z"}, 6, 24),
    ],
    ids=["from", "before", "offset-from", "offset-before", "microseconds"],
)
def test_one_bound_alone_and_offsets_are_honoured(
    api: Client, hourly: list[Order], query: dict[str, str], start: int, end: int
) -> None:
    # when
    listed = list_orders(api, limit=100, **query).json()

    # then
    assert [item["id"] for item in listed["items"]] == between(hourly, start, end)


@pytest.mark.parametrize(
    ("created_from", "created_before"),
    [
        ("2026-01-01T05:00:00Z", "2026-01-01T05:00:00Z"),
        ("2026-01-01T09:00:00Z", "2026-01-01T05:00:00Z"),
        ("2027-01-01T00:00:00Z", None),
    ],
    ids=["empty", "reversed", "after-everything"],
)
def test_an_empty_range_is_an_empty_page(
    api: Client, hourly: list[Order], created_from: str, created_before: str | None
) -> None:
    # given
    query = {"createdFrom": created_from}
    if created_before:
        query["createdBefore"] = created_before

    # when
    response = list_orders(api, **query)

    # then
    assert response.status_code == 200
    assert response.json() == {"items": [], "nextCursor": None, "prevCursor": None}


@pytest.mark.parametrize("status", ["draft", "confirmed", "closed"])
def test_ranges_and_status_combine_in_both_directions(
    api: Client, hourly: list[Order], status: str
) -> None:
    # given
    query = {
        "status": status,
        "createdFrom": "2026-01-01T02:00:00Z",
        "createdBefore": "2026-01-01T20:00:00Z",
    }

    # when
    forward = list(pages(api, limit=2, **query))
    back = walk_back(api, limit=2, cursor=forward[-1]["prevCursor"], **query)

    # then
    expected = between(hourly, 2, 20, status)
    assert [item["id"] for page in forward for item in page["items"]] == expected
    assert back + [item["id"] for item in forward[-1]["items"]] == expected


@pytest.mark.parametrize(
    "value",
    [
        "2026-01-01T00:00:00",
        "2026-01-01 00:00:00Z",
        "2026-01-01",
        "2026-01-01T00:00Z",
        "20260101T000000Z",
        "2026-01-01T00:00:00 01:00",
        "2026-01-01T00:00:00+0100",
        "2026-02-30T00:00:00Z",
        "2026-01-01T24:00:00Z",
        "2026-01-01T00:00:60Z",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "\uff12\uff10\uff12\uff16-01-01T00:00:00Z",
        "yesterday",
        "",
    ],
    ids=[
        "no-zone",
        "space",
        "date-only",
        "no-seconds",
        "basic-format",
        "unencoded-plus",
        "offset-without-colon",
        "february-30",
        "hour-24",
        "leap-second",
        "before-year-1",
        "after-year-9999",
        "fullwidth-digits",
        "words",
        "empty",
    ],
)
@pytest.mark.parametrize("field", ["createdFrom", "createdBefore"])
def test_a_timestamp_without_a_zone_or_unparsable_is_a_validation_error(
    api: Client, field: str, value: str
) -> None:
    # when
    response = list_orders(api, **{field: value})

    # then
    problem = assert_problem(response, 400, "validation_error")
    assert [error["field"] for error in problem["errors"]] == [field]
