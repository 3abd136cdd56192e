"""The orders HTTP API as clients use it: status codes, error codes, headers and bodies."""

import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from orders.models import Order
from orders.tests.factories import ClosedOrderFactory, ConfirmedOrderFactory, OrderFactory
from orders_project.tests import ClientResponse, assert_problem
from outbox.models import OutboxEvent

pytestmark = pytest.mark.django_db

# For requests the service refuses from inside its transaction (404, 409, 412): that
# transaction must be the outermost one, as it is in production. Nested in the test's
# own wrapping transaction, the refusal would doom it and the test could no longer
# read the database to prove that nothing changed.
committed = pytest.mark.django_db(transaction=True)

ORDER_FIELDS = {
    "id",
    "tenantId",
    "status",
    "version",
    "totalCents",
    "createdAt",
    "updatedAt",
    "closedAt",
}
WIRE_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
MAX_TOTAL_CENTS = 2_147_483_647

ClientFor = Callable[[str], Client]


def create(client: Client, **headers: str) -> ClientResponse:
    return client.post(
        "/orders",
        data={},
        content_type="application/json",
        headers={"Idempotency-Key": uuid.uuid4().hex, **headers},
    )


def confirm(
    client: Client, order_id: object, *, total: object = 5000, if_match: str | None = "1"
) -> ClientResponse:
    return client.patch(
        f"/orders/{order_id}/confirm",
        data={"totalCents": total},
        content_type="application/json",
        headers={} if if_match is None else {"If-Match": if_match},
    )


def confirm_raw(
    client: Client, order_id: object, body: str, if_match: str = "1"
) -> ClientResponse:
    return client.patch(
        f"/orders/{order_id}/confirm",
        data=body,
        content_type="application/json",
        headers={"If-Match": if_match},
    )


def close(client: Client, order_id: object, *, if_match: str | None = None) -> ClientResponse:
    # As curl sends `-X POST` without -d: no body and no content type.
    return client.generic(
        "POST",
        f"/orders/{order_id}/close",
        headers={} if if_match is None else {"If-Match": if_match},
    )


def db_state() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every order and outbox row, to prove a refused request wrote nothing."""
    return (
        [dict(row) for row in Order.objects.order_by("pk").values()],
        [dict(row) for row in OutboxEvent.objects.order_by("sequence").values()],
    )


def assert_order_response(response: ClientResponse, status: int = 200) -> dict[str, Any]:
    """A single-order response: JSON with all 8 fields and ETag equal to its version."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert set(body) == ORDER_FIELDS
    assert response["ETag"] == f'"{body["version"]}"'
    return body


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


def test_create_sent_form_encoded_as_curl_does_creates_a_draft(api: Client) -> None:
    # when: curl -X POST .../orders -H "Idempotency-Key: key-123" -d "{}"
    response = api.post(
        "/orders",
        data="{}",
        content_type="application/x-www-form-urlencoded",
        headers={"Idempotency-Key": "key-123"},
    )

    # then
    body = assert_order_response(response, 201)
    assert body["status"] == "draft"
    assert Order.objects.filter(pk=body["id"], tenant_id="tenant-1").exists()


def test_create_ignores_unknown_fields(api: Client) -> None:
    # when
    response = api.post(
        "/orders",
        data={"customer": "someone", "totalCents": 99},
        content_type="application/json",
        headers={"Idempotency-Key": "unknown-fields"},
    )

    # then
    body = assert_order_response(response, 201)
    assert body["totalCents"] is None
    assert body["status"] == "draft"


def test_create_with_a_non_object_body_is_a_validation_error_and_creates_nothing(
    api: Client,
) -> None:
    # when
    response = api.post(
        "/orders", data="[]", content_type="application/json", headers={"Idempotency-Key": "k"}
    )

    # then
    assert_problem(response, 400, "validation_error")
    assert not Order.objects.exists()


# --- the README walk ------------------------------------------------------------------


def test_readme_curl_sequence(api: Client) -> None:
    # given: the four commands of the README's "Try it", as curl sends them
    created = api.post(
        "/orders",
        data="{}",
        content_type="application/x-www-form-urlencoded",
        headers={"Idempotency-Key": "key-123"},
    )
    order_id = created.json()["id"]

    # when
    confirmed = api.patch(
        f"/orders/{order_id}/confirm",
        data='{"totalCents": 5000}',
        content_type="application/json",
        headers={"If-Match": "1"},
    )
    closed = close(api, order_id)
    listed = api.get("/orders?limit=5")
    replayed = api.post(
        "/orders",
        data="{}",
        content_type="application/x-www-form-urlencoded",
        headers={"Idempotency-Key": "key-123"},
    )

    # then
    assert assert_order_response(created, 201)["status"] == "draft"
    confirmed_body = assert_order_response(confirmed)
    assert (confirmed_body["status"], confirmed_body["totalCents"]) == ("confirmed", 5000)
    closed_body = assert_order_response(closed)
    assert (closed_body["status"], closed_body["version"]) == ("closed", 3)
    assert listed.status_code == 200
    assert listed.json() == {"items": [closed_body], "nextCursor": None}
    assert replayed.status_code == 201
    assert replayed["Idempotent-Replayed"] == "true"
    assert replayed.content == created.content
    assert Order.objects.count() == 1


def test_confirm_sent_form_encoded_as_curl_without_content_type_does(api: Client) -> None:
    # given
    order = OrderFactory.create()

    # when: curl -X PATCH .../confirm -H "If-Match: 1" -d '{"totalCents": 5000}'
    response = api.patch(
        f"/orders/{order.pk}/confirm",
        data='{"totalCents": 5000}',
        content_type="application/x-www-form-urlencoded",
        headers={"If-Match": "1"},
    )

    # then
    body = assert_order_response(response)
    assert (body["status"], body["totalCents"], body["version"]) == ("confirmed", 5000, 2)


def test_confirm_with_a_real_form_body_refuses_the_string_total(api: Client) -> None:
    # given
    order = OrderFactory.create()
    before = db_state()

    # when
    response = api.patch(
        f"/orders/{order.pk}/confirm",
        data="totalCents=5000",
        content_type="application/x-www-form-urlencoded",
        headers={"If-Match": "1"},
    )

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
    fetched = api.get(f"/orders/{order_id}")
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
        fetched = api.get(f"/orders/{order_id}")
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
    response = client_for("").get("/orders")

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
    got = intruder.get(f"/orders/{draft.pk}")
    not_modified = intruder.get(f"/orders/{draft.pk}", headers={"If-None-Match": "*"})
    confirmed_by_intruder = confirm(intruder, draft.pk, if_match="*")
    closed_by_intruder = close(intruder, confirmed.pk)
    listed = intruder.get("/orders")

    # then
    assert_problem(got, 404, "not_found")
    assert_problem(not_modified, 404, "not_found")
    assert_problem(confirmed_by_intruder, 404, "not_found")
    assert_problem(closed_by_intruder, 404, "not_found")
    assert listed.json() == {"items": [], "nextCursor": None}
    assert db_state() == before


def test_another_tenants_order_looks_exactly_like_a_missing_one(
    client_for: ClientFor,
) -> None:
    # given
    order = OrderFactory.create(tenant_id="tenant-1")
    intruder = client_for("tenant-2")

    # when
    other_tenants = intruder.get(f"/orders/{order.pk}")
    missing = intruder.get(f"/orders/{uuid.uuid4()}")

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


@pytest.mark.parametrize("kind", NOT_FOUND_IDS)
def test_get_of_a_missing_order_is_not_found(api: Client, kind: str) -> None:
    # given
    order_id = NOT_FOUND_IDS[kind]()

    # when
    response = api.get(f"/orders/{order_id}")

    # then
    assert_problem(response, 404, "not_found")


@committed
@pytest.mark.parametrize("kind", NOT_FOUND_IDS)
def test_confirm_of_a_missing_order_is_not_found_and_changes_nothing(
    api: Client, kind: str
) -> None:
    # given
    order_id = NOT_FOUND_IDS[kind]()
    before = db_state()

    # when
    response = confirm(api, order_id, if_match="*")

    # then
    assert_problem(response, 404, "not_found")
    assert db_state() == before


@committed
@pytest.mark.parametrize("kind", NOT_FOUND_IDS)
def test_close_of_a_missing_order_is_not_found_and_changes_nothing(api: Client, kind: str) -> None:
    # given
    order_id = NOT_FOUND_IDS[kind]()
    before = db_state()

    # when
    response = close(api, order_id)

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
    response = confirm_raw(api, order.pk, body)

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


# --- confirm: preconditions and state -------------------------------------------------


def test_confirm_without_if_match_is_precondition_required_and_changes_nothing(
    api: Client,
) -> None:
    # given
    order = OrderFactory.create()
    before = db_state()

    # when
    response = confirm(api, order.pk, if_match=None)

    # then
    assert_problem(response, 428, "precondition_required")
    assert db_state() == before


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
@pytest.mark.parametrize("if_match", ["2", '"2"', 'W/"2"', "0", '"0"', "abc", '"1'])
def test_confirm_with_a_version_other_than_the_current_is_stale_and_changes_nothing(
    api: Client, if_match: str
) -> None:
    # given
    order = OrderFactory.create()
    before = db_state()

    # when
    response = confirm(api, order.pk, if_match=if_match)

    # then
    assert_problem(response, 412, "stale_version")
    assert db_state() == before


@committed
@pytest.mark.parametrize("if_match", ["*", "2"])
def test_confirming_twice_is_an_invalid_state_transition(api: Client, if_match: str) -> None:
    # given
    order = ConfirmedOrderFactory.create(total_cents=100)
    before = db_state()

    # when
    response = confirm(api, order.pk, total=200, if_match=if_match)

    # then
    assert_problem(response, 409, "invalid_state_transition")
    assert db_state() == before


@committed
def test_confirming_a_closed_order_is_an_invalid_state_transition(api: Client) -> None:
    # given
    order = ClosedOrderFactory.create()
    before = db_state()

    # when
    response = confirm(api, order.pk, if_match="3")

    # then
    assert_problem(response, 409, "invalid_state_transition")
    assert db_state() == before


@committed
def test_a_stale_if_match_is_reported_before_the_state_rule(api: Client) -> None:
    # given: a client that last saw version 1, now confirmed by someone else
    order = ConfirmedOrderFactory.create()

    # when
    response = confirm(api, order.pk, if_match="1")

    # then
    assert_problem(response, 412, "stale_version")


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


@pytest.mark.parametrize("if_match", ["2", '"2"', 'W/"2"', "*"])
def test_close_honours_if_match_naming_the_current_version(api: Client, if_match: str) -> None:
    # given
    order = ConfirmedOrderFactory.create()

    # when
    response = close(api, order.pk, if_match=if_match)

    # then
    assert assert_order_response(response)["status"] == "closed"


@committed
@pytest.mark.parametrize("if_match", ["1", '"1"', 'W/"3"', "nope"])
def test_close_with_a_stale_if_match_is_refused_and_changes_nothing(
    api: Client, if_match: str
) -> None:
    # given
    order = ConfirmedOrderFactory.create()
    before = db_state()

    # when
    response = close(api, order.pk, if_match=if_match)

    # then
    assert_problem(response, 412, "stale_version")
    assert db_state() == before


@committed
def test_closing_a_draft_is_an_invalid_state_transition(api: Client) -> None:
    # given
    order = OrderFactory.create()
    before = db_state()

    # when
    response = close(api, order.pk)

    # then
    assert_problem(response, 409, "invalid_state_transition")
    assert db_state() == before


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


# --- conditional GET ------------------------------------------------------------------


@pytest.mark.parametrize("if_none_match", ['"1"', 'W/"1"', "*", '"7", "1"'])
def test_get_with_a_matching_if_none_match_is_304_without_body(
    api: Client, if_none_match: str
) -> None:
    # given
    order = OrderFactory.create()

    # when
    response = api.get(f"/orders/{order.pk}", headers={"If-None-Match": if_none_match})

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
    response = api.get(f"/orders/{order.pk}", headers={"If-None-Match": if_none_match})

    # then
    assert assert_order_response(response)["id"] == str(order.pk)


def test_a_cached_etag_stops_matching_once_the_order_changes(api: Client) -> None:
    # given
    order_id = create(api).json()["id"]
    cached = api.get(f"/orders/{order_id}")["ETag"]
    confirm(api, order_id)

    # when
    response = api.get(f"/orders/{order_id}", headers={"If-None-Match": cached})

    # then
    body = assert_order_response(response)
    assert (body["version"], response["ETag"]) == (2, '"2"')
