"""The orders HTTP API as clients use it: status codes, error codes, headers and bodies."""

import re
import uuid
from collections.abc import Callable
from functools import partial

import pytest
from django.test import Client
from django.test.client import MULTIPART_CONTENT

from orders.models import Order
from orders.tests.factories import ClosedOrderFactory, ConfirmedOrderFactory, OrderFactory
from orders.tests.http import (
    CURL_FORM,
    JSON,
    Body,
    ClientFor,
    ClientResponse,
    assert_order_response,
    assert_problem,
    close,
    confirm,
    create,
    db_state,
    get,
    list_orders,
)

pytestmark = pytest.mark.django_db

# For requests the service refuses from inside its transaction (404, 409, 412): that
# transaction must be the outermost one, as it is in production. Nested in the test's
# own wrapping transaction, the refusal would doom it and the test could no longer
# read the database to prove that nothing changed.
committed = pytest.mark.django_db(transaction=True)

WIRE_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
MAX_TOTAL_CENTS = 2_147_483_647


# --- create ---------------------------------------------------------------------------


def test_create_returns_a_draft_at_version_1_with_location_and_etag(api: Client) -> None:
    # when
    response = create(api)

    # then
    body = assert_order_response(response, 201)
    assert response["Location"] == f"/orders/{body['id']}"
    assert body["tenantId"] == "tenant-1"
    assert body["status"] == "draft"
    assert body["version"] == 1
    assert body["totalCents"] is None
    assert body["closedAt"] is None
    assert WIRE_TIMESTAMP.fullmatch(body["createdAt"])
    assert body["updatedAt"] == body["createdAt"]
    stored = Order.objects.get(pk=body["id"])
    assert (stored.tenant_id, stored.status, stored.version) == ("tenant-1", "draft", 1)


def test_location_of_a_created_order_serves_that_order(api: Client) -> None:
    # given
    created = create(api)

    # when
    fetched = api.get(created["Location"])

    # then
    assert assert_order_response(fetched) == created.json()


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        # curl -X POST .../orders -H "Idempotency-Key: key-123" -d "{}"
        pytest.param("{}", CURL_FORM, id="form-encoded-as-curl-sends-it"),
        pytest.param({"customer": "someone", "totalCents": 99}, JSON, id="unknown-fields"),
    ],
)
def test_create_makes_a_draft_whatever_object_the_body_holds(
    api: Client, body: Body, content_type: str
) -> None:
    # when
    response = create(api, body=body, content_type=content_type)

    # then
    created = assert_order_response(response, 201)
    assert (created["status"], created["totalCents"]) == ("draft", None)
    assert Order.objects.filter(pk=created["id"], tenant_id="tenant-1").exists()


def test_create_with_a_non_object_body_is_a_validation_error_and_creates_nothing(
    api: Client,
) -> None:
    # when
    response = create(api, body="[]")

    # then
    assert_problem(response, 400, "validation_error")
    assert not Order.objects.exists()


# --- the README walk ------------------------------------------------------------------


def test_readme_curl_sequence(api: Client) -> None:
    # given: the four commands of the README's "Try it", as curl sends them
    created = create(api, key="key-123", body="{}", content_type=CURL_FORM)
    order_id = created.json()["id"]

    # when
    confirmed = confirm(api, order_id, body='{"totalCents": 5000}', if_match="1")
    closed = close(api, order_id)
    listed = list_orders(api, limit=5)
    replayed = create(api, key="key-123", body="{}", content_type=CURL_FORM)

    # then
    assert assert_order_response(created, 201)["status"] == "draft"
    confirmed_body = assert_order_response(confirmed)
    assert (confirmed_body["status"], confirmed_body["totalCents"]) == ("confirmed", 5000)
    closed_body = assert_order_response(closed)
    assert (closed_body["status"], closed_body["version"]) == ("closed", 3)
    assert listed.status_code == 200
    assert listed.json() == {
        "items": [closed_body],
        "nextCursor": None,
        "prevCursor": listed.json()["prevCursor"],
    }
    assert listed.json()["prevCursor"]  # a feed of what is created after it
    assert replayed.status_code == 201
    assert replayed["Idempotent-Replayed"] == "true"
    assert replayed.content == created.content
    assert Order.objects.count() == 1


def test_confirm_sent_form_encoded_as_curl_without_content_type_does(api: Client) -> None:
    # given
    order = OrderFactory.create()

    # when: curl -X PATCH .../confirm -H "If-Match: 1" -d '{"totalCents": 5000}'
    response = confirm(api, order.pk, body='{"totalCents": 5000}', content_type=CURL_FORM)

    # then
    body = assert_order_response(response)
    assert (body["status"], body["totalCents"], body["version"]) == ("confirmed", 5000, 2)


def test_confirm_with_a_real_form_body_refuses_the_string_total(api: Client) -> None:
    # given
    order = OrderFactory.create()
    before = db_state()

    # when
    response = confirm(api, order.pk, body="totalCents=5000", content_type=CURL_FORM)

    # then
    body = assert_problem(response, 400, "validation_error")
    assert [(e["field"], e["code"]) for e in body["errors"]] == [("totalCents", "invalid")]
    assert db_state() == before


# --- representation -------------------------------------------------------------------


def test_every_single_order_response_has_all_fields_and_an_etag_of_its_version(
    api: Client,
) -> None:
    # when
    created = create(api)
    order_id = created.json()["id"]
    fetched = get(api, order_id)
    confirmed = confirm(api, order_id, total=1234)
    closed = close(api, order_id)

    # then: version rises by exactly one per write, and the ETag follows it
    versions = [
        assert_order_response(created, 201)["version"],
        assert_order_response(fetched)["version"],
        assert_order_response(confirmed)["version"],
        assert_order_response(closed)["version"],
    ]
    assert versions == [1, 1, 2, 3]
    assert Order.objects.get(pk=order_id).version == 3


def test_timestamps_are_utc_with_microseconds_and_move_as_the_order_does(api: Client) -> None:
    # given
    draft = create(api).json()

    # when
    confirmed = confirm(api, draft["id"], total=700).json()
    closed = close(api, draft["id"]).json()

    # then
    for body in (draft, confirmed, closed):
        assert WIRE_TIMESTAMP.fullmatch(body["createdAt"])
        assert WIRE_TIMESTAMP.fullmatch(body["updatedAt"])
        assert body["createdAt"] == draft["createdAt"]
    assert draft["totalCents"] is None
    assert confirmed["totalCents"] == 700
    assert draft["closedAt"] is None
    assert confirmed["closedAt"] is None
    assert WIRE_TIMESTAMP.fullmatch(closed["closedAt"])
    # The wire format sorts lexically in time order.
    assert draft["updatedAt"] <= confirmed["updatedAt"] <= closed["updatedAt"]
    assert closed["closedAt"] == closed["updatedAt"]


def test_each_write_response_is_what_a_later_get_returns(api: Client) -> None:
    # given
    order_id = create(api).json()["id"]

    # when / then: the in-memory copy a write answers with matches the stored row
    for write in (lambda: confirm(api, order_id), lambda: close(api, order_id)):
        written = write()
        fetched = get(api, order_id)
        assert written.json() == fetched.json()
        assert written["ETag"] == fetched["ETag"]


# --- tenancy --------------------------------------------------------------------------

ENDPOINTS: list[tuple[str, str]] = [
    ("post", "/orders"),
    ("get", "/orders"),
    ("get", "/orders/{id}"),
    ("patch", "/orders/{id}/confirm"),
    ("post", "/orders/{id}/close"),
]


def call(client: Client, method: str, path: str, order: Order) -> ClientResponse:
    return getattr(client, method)(
        path.format(id=order.pk),
        data={"totalCents": 10} if method == "patch" else {},
        content_type="application/json",
        headers={"Idempotency-Key": "tenant-test", "If-Match": "*"},
    )


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_missing_tenant_header_is_tenant_required_and_changes_nothing(
    method: str, path: str
) -> None:
    # given
    order = ConfirmedOrderFactory.create()
    before = db_state()

    # when
    response = call(Client(), method, path, order)

    # then
    assert_problem(response, 400, "tenant_required")
    assert db_state() == before


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
@pytest.mark.parametrize(
    "tenant",
    ["t" * 65, "tenant 1", "tenant/1", "tenant:1", "tenant,1", "ténant", "tenant*"],
    ids=["too-long", "space", "slash", "colon", "comma", "non-ascii", "star"],
)
def test_malformed_tenant_is_invalid_tenant_and_changes_nothing(
    client_for: ClientFor, method: str, path: str, tenant: str
) -> None:
    # given
    order = ConfirmedOrderFactory.create()
    before = db_state()

    # when
    response = call(client_for(tenant), method, path, order)

    # then
    assert_problem(response, 400, "invalid_tenant")
    assert db_state() == before


def test_empty_tenant_header_is_invalid_tenant(client_for: ClientFor) -> None:
    # The header is present but breaks the 1-64 characters rule: malformed, not missing.
    # when
    response = list_orders(client_for(""))

    # then
    assert_problem(response, 400, "invalid_tenant")


@pytest.mark.parametrize("tenant", ["t" * 64, "A", "Acme.EU_west-1"])
def test_tenant_ids_at_the_edges_of_the_rule_are_accepted(
    client_for: ClientFor, tenant: str
) -> None:
    # when
    response = create(client_for(tenant))

    # then
    assert assert_order_response(response, 201)["tenantId"] == tenant
    assert Order.objects.get().tenant_id == tenant


@committed
def test_another_tenants_order_is_invisible_and_untouchable(client_for: ClientFor) -> None:
    # given
    draft = OrderFactory.create(tenant_id="tenant-1")
    confirmed = ConfirmedOrderFactory.create(tenant_id="tenant-1")
    intruder = client_for("tenant-2")
    before = db_state()

    # when
    got = get(intruder, draft.pk)
    not_modified = get(intruder, draft.pk, if_none_match="*")
    confirmed_by_intruder = confirm(intruder, draft.pk, if_match="*")
    closed_by_intruder = close(intruder, confirmed.pk)
    listed = list_orders(intruder)

    # then
    assert_problem(got, 404, "not_found")
    assert_problem(not_modified, 404, "not_found")
    assert_problem(confirmed_by_intruder, 404, "not_found")
    assert_problem(closed_by_intruder, 404, "not_found")
    assert listed.json() == {"items": [], "nextCursor": None, "prevCursor": None}
    assert db_state() == before


def test_another_tenants_order_looks_exactly_like_a_missing_one(
    client_for: ClientFor,
) -> None:
    # given
    order = OrderFactory.create(tenant_id="tenant-1")
    intruder = client_for("tenant-2")

    # when
    other_tenants = get(intruder, order.pk)
    missing = get(intruder, uuid.uuid4())

    # then
    assert other_tenants.content == missing.content
    assert other_tenants.status_code == missing.status_code == 404


# --- not found ------------------------------------------------------------------------

NOT_FOUND_IDS = {
    "unknown": uuid.uuid4,
    "other-tenant": lambda: OrderFactory.create(tenant_id="tenant-2", confirmed=True).pk,
    "not-a-uuid": lambda: "not-a-uuid",
    "number": lambda: "12345",
    "truncated-uuid": lambda: str(uuid.uuid4())[:-1],
}

# Each request that names one order, sent so that only the order's existence can fail it.
ONE_ORDER_REQUESTS: dict[str, Callable[..., ClientResponse]] = {
    "get": get,
    "confirm": partial(confirm, if_match="*"),
    "close": close,
}


@committed
@pytest.mark.parametrize("kind", NOT_FOUND_IDS)
@pytest.mark.parametrize("request_", ONE_ORDER_REQUESTS)
def test_a_missing_order_is_not_found_and_nothing_changes(
    api: Client, request_: str, kind: str
) -> None:
    # given
    order_id = NOT_FOUND_IDS[kind]()
    before = db_state()

    # when
    response = ONE_ORDER_REQUESTS[request_](api, order_id)

    # then
    assert_problem(response, 404, "not_found")
    assert db_state() == before


# --- confirm: body validation ---------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("{}", "required"),
        ('{"totalCents": "5000"}', "invalid"),
        ('{"totalCents": 5000.0}', "invalid"),
        ('{"totalCents": 5000.5}', "invalid"),
        ('{"totalCents": true}', "invalid"),
        ('{"totalCents": [5000]}', "invalid"),
        ('{"totalCents": -1}', "min_value"),
        ('{"totalCents": 2147483648}', "max_value"),
        ('{"totalCents": 100000000000000000000000}', "max_value"),
        ('{"totalCents": null}', "null"),
    ],
    ids=[
        "missing",
        "string",
        "float",
        "fraction",
        "bool",
        "list",
        "negative",
        "too-large",
        "huge",
        "null",
    ],
)
def test_bad_total_is_a_validation_error_on_totalcents_and_changes_nothing(
    api: Client, body: str, code: str
) -> None:
    # given
    order = OrderFactory.create()
    before = db_state()

    # when
    response = confirm(api, order.pk, body=body)

    # then
    problem = assert_problem(response, 400, "validation_error")
    assert len(problem["errors"]) == 1
    error = problem["errors"][0]
    assert set(error) == {"field", "code", "message"}
    assert (error["field"], error["code"]) == ("totalCents", code)
    assert error["message"]
    assert db_state() == before


@pytest.mark.parametrize("total", [0, 1, MAX_TOTAL_CENTS])
def test_totals_at_the_edges_of_the_range_are_accepted(api: Client, total: int) -> None:
    # given
    order = OrderFactory.create()

    # when
    response = confirm(api, order.pk, total=total)

    # then
    assert assert_order_response(response)["totalCents"] == total
    assert Order.objects.get(pk=order.pk).total_cents == total


# --- confirm: preconditions -----------------------------------------------------------


@pytest.mark.parametrize("if_match", ["1", '"1"', 'W/"1"', "*", ' "1" '])
def test_confirm_accepts_every_if_match_form_naming_the_current_version(
    api: Client, if_match: str
) -> None:
    # given
    order = OrderFactory.create()

    # when
    response = confirm(api, order.pk, total=4200, if_match=if_match)

    # then
    body = assert_order_response(response)
    assert (body["status"], body["version"], body["totalCents"]) == ("confirmed", 2, 4200)
    stored = Order.objects.get(pk=order.pk)
    assert (stored.status, stored.version, stored.total_cents) == ("confirmed", 2, 4200)


@committed
@pytest.mark.parametrize("key", [None, "stale-key"], ids=["unkeyed", "keyed"])
def test_a_stale_if_match_is_reported_before_the_state_rule(api: Client, key: str | None) -> None:
    # given: a client that last saw version 1, now confirmed by someone else
    order = ConfirmedOrderFactory.create()

    # when
    response = confirm(api, order.pk, if_match="1", key=key)

    # then: the answer names the version the order is at, in the body and as its ETag
    problem = assert_problem(response, 412, "stale_version")
    assert problem["currentVersion"] == 2
    assert response["ETag"] == '"2"'


@committed
def test_a_stale_if_match_on_close_names_the_current_version(api: Client) -> None:
    # given: a confirmed order (version 2), closed once already
    order = ConfirmedOrderFactory.create()
    assert close(api, order.pk, if_match='"2"').status_code == 200

    # when
    response = close(api, order.pk, if_match='"2"')

    # then
    problem = assert_problem(response, 412, "stale_version")
    assert problem["currentVersion"] == 3
    assert response["ETag"] == '"3"'


def test_confirm_checks_if_match_presence_before_the_body(api: Client) -> None:
    # given
    order = OrderFactory.create()

    # when
    response = confirm(api, order.pk, total=-5, if_match=None)

    # then
    assert_problem(response, 428, "precondition_required")


# --- close ----------------------------------------------------------------------------


def test_close_moves_a_confirmed_order_to_closed(api: Client) -> None:
    # given
    order = ConfirmedOrderFactory.create(total_cents=900)

    # when
    response = close(api, order.pk)

    # then
    body = assert_order_response(response)
    assert (body["status"], body["version"], body["totalCents"]) == ("closed", 3, 900)
    assert WIRE_TIMESTAMP.fullmatch(body["closedAt"])
    stored = Order.objects.get(pk=order.pk)
    assert (stored.status, stored.version) == ("closed", 3)
    assert stored.closed_at is not None


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        pytest.param(b"", JSON, id="empty-json-body"),
        pytest.param({}, JSON, id="empty-json-object"),
        pytest.param({}, MULTIPART_CONTENT, id="empty-multipart-form"),
    ],
)
def test_close_takes_the_empty_bodies_clients_send(
    api: Client, data: object, content_type: str
) -> None:
    # given
    order = ConfirmedOrderFactory.create()

    # when
    response = api.post(f"/orders/{order.pk}/close", data=data, content_type=content_type)

    # then
    assert assert_order_response(response)["status"] == "closed"


@pytest.mark.parametrize("if_match", ["2", '"2"', 'W/"2"', "*"])
def test_close_honours_if_match_naming_the_current_version(api: Client, if_match: str) -> None:
    # given
    order = ConfirmedOrderFactory.create()

    # when
    response = close(api, order.pk, if_match=if_match)

    # then
    assert assert_order_response(response)["status"] == "closed"


@committed
def test_closing_twice_is_an_invalid_state_transition(api: Client) -> None:
    # given
    order = ConfirmedOrderFactory.create()
    first = close(api, order.pk)
    after_first = db_state()

    # when
    second = close(api, order.pk)

    # then
    assert first.status_code == 200
    assert_problem(second, 409, "invalid_state_transition")
    assert db_state() == after_first


# --- refused writes -------------------------------------------------------------------


REFUSED_WRITES = [
    pytest.param(
        OrderFactory,
        partial(confirm, if_match=None),
        (428, "precondition_required"),
        id="confirm-without-if-match",
    ),
    *(
        pytest.param(
            OrderFactory,
            partial(confirm, if_match=if_match),
            (412, "stale_version"),
            id=f"confirm-if-match-{if_match}",
        )
        for if_match in ["2", '"2"', 'W/"2"', "0", '"0"', "abc", '"1']
    ),
    *(
        pytest.param(
            ConfirmedOrderFactory,
            partial(close, if_match=if_match),
            (412, "stale_version"),
            id=f"close-if-match-{if_match}",
        )
        for if_match in ["1", '"1"', 'W/"3"', "nope"]
    ),
    *(
        pytest.param(
            ConfirmedOrderFactory,
            partial(confirm, total=200, if_match=if_match),
            (409, "invalid_state_transition"),
            id=f"confirm-a-confirmed-if-match-{if_match}",
        )
        for if_match in ["*", "2"]
    ),
    pytest.param(
        ClosedOrderFactory,
        partial(confirm, if_match="3"),
        (409, "invalid_state_transition"),
        id="confirm-a-closed",
    ),
    pytest.param(OrderFactory, close, (409, "invalid_state_transition"), id="close-a-draft"),
]


@committed
@pytest.mark.parametrize(("make_order", "write", "refusal"), REFUSED_WRITES)
def test_a_refused_write_is_its_problem_and_changes_nothing(
    api: Client,
    make_order: type[OrderFactory],
    write: Callable[..., ClientResponse],
    refusal: tuple[int, str],
) -> None:
    # given
    order = make_order.create()
    before = db_state()

    # when
    response = write(api, order.pk)

    # then
    assert_problem(response, *refusal)
    assert db_state() == before


# --- conditional GET ------------------------------------------------------------------


@pytest.mark.parametrize("if_none_match", ['"1"', 'W/"1"', "*", '"7", "1"'])
def test_get_with_a_matching_if_none_match_is_304_without_body(
    api: Client, if_none_match: str
) -> None:
    # given
    order = OrderFactory.create()

    # when
    response = get(api, order.pk, if_none_match=if_none_match)

    # then
    assert response.status_code == 304
    assert response.content == b""
    assert response["ETag"] == '"1"'


@pytest.mark.parametrize("if_none_match", ['"2"', 'W/"2"', '"10"', '"11"'])
def test_get_with_a_non_matching_if_none_match_is_200_with_the_order(
    api: Client, if_none_match: str
) -> None:
    # given
    order = OrderFactory.create()

    # when
    response = get(api, order.pk, if_none_match=if_none_match)

    # then
    assert assert_order_response(response)["id"] == str(order.pk)


def test_a_cached_etag_stops_matching_once_the_order_changes(api: Client) -> None:
    # given
    order_id = create(api).json()["id"]
    cached = get(api, order_id)["ETag"]
    confirm(api, order_id)

    # when
    response = get(api, order_id, if_none_match=cached)

    # then
    body = assert_order_response(response)
    assert (body["version"], response["ETag"]) == (2, '"2"')
