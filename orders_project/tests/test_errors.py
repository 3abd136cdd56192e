"""Errors from every layer are problem+json; probes, the schema and the docs page."""

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.db import OperationalError
from django.test import Client

from orders import services
from orders.models import Order
from orders.tests.factories import OrderFactory
from orders_project import health
from orders_project.tests import ClientResponse, assert_problem
from outbox.models import OutboxEvent

pytestmark = pytest.mark.django_db

BODY_LIMIT = 64 * 1024
DEEP = "[" * 20_000 + "]" * 20_000  # far past the parser's recursion limit, under 64 KiB
ClientFor = Callable[[str], Client]


def db_state() -> tuple[list[dict[str, Any]], int]:
    orders = [dict(row) for row in Order.objects.order_by("pk").values()]
    return orders, OutboxEvent.objects.count()


def create_raw(client: Client, body: str | bytes, content_type: str) -> ClientResponse:
    return client.post(
        "/orders", data=body, content_type=content_type, headers={"Idempotency-Key": "raw"}
    )


def confirm_raw(
    client: Client, order: Order, body: str | bytes, content_type: str
) -> ClientResponse:
    return client.patch(
        f"/orders/{order.pk}/confirm",
        data=body,
        content_type=content_type,
        headers={"If-Match": "1"},
    )


@pytest.fixture
def draft() -> Order:
    return OrderFactory.create()


# --- Django's and DRF's own refusals --------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/nope", "/orders/", "/orders/{id}/nope", "/orders/{id}/confirm/", "/static/x.js"]
)
def test_unknown_paths_are_not_found_problems(api: Client, draft: Order, path: str) -> None:
    # when
    response = api.get(path.format(id=draft.pk))

    # then
    assert_problem(response, 404, "not_found")


def test_an_unknown_path_outside_orders_needs_no_tenant() -> None:
    # when
    response = Client().get("/no-such-thing")

    # then
    assert_problem(response, 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("delete", "/orders/{id}", "GET"),
        ("put", "/orders/{id}", "GET"),
        ("patch", "/orders/{id}", "GET"),
        ("delete", "/orders", "POST"),
        ("get", "/orders/{id}/confirm", "PATCH"),
        ("post", "/orders/{id}/confirm", "PATCH"),
        ("patch", "/orders/{id}/close", "POST"),
    ],
)
def test_a_method_the_path_does_not_take_is_method_not_allowed(
    api: Client, draft: Order, method: str, path: str, allowed: str
) -> None:
    # given
    before = db_state()

    # when
    response = getattr(api, method)(
        path.format(id=draft.pk),
        data={"totalCents": 1},
        content_type="application/json",
        headers={"Idempotency-Key": "k", "If-Match": "1"},
    )

    # then
    assert_problem(response, 405, "method_not_allowed")
    assert allowed in response["Allow"]
    assert db_state() == before


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_probes_refuse_other_methods_as_problems_even_with_csrf_enforced(
    path: str, method: str
) -> None:
    # given: a client that, like a browser or curl, sends no CSRF token
    client = Client(enforce_csrf_checks=True)

    # when
    response = getattr(client, method)(path)

    # then
    assert_problem(response, 405, "method_not_allowed")
    assert response["Allow"] == "GET, HEAD"


def test_an_unservable_accept_header_is_not_acceptable(api: Client) -> None:
    # when
    response = api.get("/orders", headers={"Accept": "application/xml"})

    # then
    assert_problem(response, 406, "not_acceptable")


# --- bodies ---------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["application/json", "application/x-www-form-urlencoded"])
def test_a_body_over_the_limit_is_payload_too_large(
    api: Client, draft: Order, content_type: str
) -> None:
    # given
    body = '{"totalCents": 1, "pad": "' + "x" * BODY_LIMIT + '"}'
    before = db_state()

    # when
    created = create_raw(api, body, content_type)
    confirmed = confirm_raw(api, draft, body, content_type)

    # then
    assert_problem(created, 413, "payload_too_large")
    assert_problem(confirmed, 413, "payload_too_large")
    assert db_state() == before


def test_a_keyed_confirm_over_the_limit_is_payload_too_large(api: Client, draft: Order) -> None:
    # given: the idempotency middleware reads this body before the view does
    before = db_state()

    # when
    response = api.patch(
        f"/orders/{draft.pk}/confirm",
        data="x" * (BODY_LIMIT + 1),
        content_type="application/json",
        headers={"If-Match": "1", "Idempotency-Key": "big"},
    )

    # then
    assert_problem(response, 413, "payload_too_large")
    assert db_state() == before


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/xml", "multipart/form-data; boundary=x"]
)
def test_a_body_neither_json_nor_form_is_unsupported_media_type(
    api: Client, draft: Order, content_type: str
) -> None:
    # given
    before = db_state()

    # when
    created = create_raw(api, "--x--", content_type)
    confirmed = confirm_raw(api, draft, "--x--", content_type)

    # then
    assert_problem(created, 415, "unsupported_media_type")
    assert_problem(confirmed, 415, "unsupported_media_type")
    assert db_state() == before


@pytest.mark.parametrize(
    "body",
    [
        '{"totalCents": 50',
        "{'totalCents': 50}",
        '{"totalCents": NaN}',
        '{"totalCents": Infinity}',
        '{"totalCents": 50} trailing',
        "{",
    ],
    ids=["unterminated", "single-quotes", "nan", "infinity", "trailing", "brace"],
)
@pytest.mark.parametrize("content_type", ["application/json", "application/x-www-form-urlencoded"])
def test_malformed_json_is_malformed_json_and_changes_nothing(
    api: Client, draft: Order, body: str, content_type: str
) -> None:
    # given
    before = db_state()

    # when
    created = create_raw(api, body, content_type)
    confirmed = confirm_raw(api, draft, body, content_type)

    # then
    assert_problem(created, 400, "malformed_json")
    assert_problem(confirmed, 400, "malformed_json")
    assert db_state() == before


@pytest.mark.parametrize("content_type", ["application/json", "application/x-www-form-urlencoded"])
def test_deeply_nested_json_is_malformed_json_not_a_crash(
    api: Client, draft: Order, content_type: str
) -> None:
    # given
    before = db_state()

    # when
    created = create_raw(api, DEEP, content_type)
    confirmed = confirm_raw(api, draft, DEEP, content_type)
    keyed = api.patch(
        f"/orders/{draft.pk}/confirm",
        data=DEEP,
        content_type=content_type,
        headers={"If-Match": "1", "Idempotency-Key": "deep"},
    )

    # then
    assert_problem(created, 400, "malformed_json")
    assert_problem(confirmed, 400, "malformed_json")
    assert_problem(keyed, 400, "malformed_json")
    assert db_state() == before


@pytest.mark.parametrize(
    "body",
    [b'{"totalCents": "\xff"}', b"\xff\xfe{}", b'{"totalCents": 5000}\xc3'],
    ids=["invalid-byte", "utf16-bom", "truncated-trailing-sequence"],
)
def test_a_json_body_that_is_not_utf8_is_malformed_json(
    api: Client, draft: Order, body: bytes
) -> None:
    # given
    before = db_state()

    # when
    created = create_raw(api, body, "application/json")
    confirmed = confirm_raw(api, draft, body, "application/json")

    # then
    assert_problem(created, 400, "malformed_json")
    assert_problem(confirmed, 400, "malformed_json")
    assert db_state() == before


def test_invalid_utf8_in_the_path_is_not_found(api: Client) -> None:
    # when
    response = api.get("/orders/%FF%FE")

    # then
    assert_problem(response, 404, "not_found")


@pytest.mark.parametrize(
    ("query", "code"),
    [("status=%FF", "validation_error"), ("limit=%FF", "validation_error")],
)
def test_invalid_utf8_in_the_query_is_a_validation_error(
    api: Client, query: str, code: str
) -> None:
    # when
    response = api.get(f"/orders?{query}")

    # then
    assert_problem(response, 400, code)


def test_invalid_utf8_in_a_cursor_is_invalid_cursor(api: Client) -> None:
    # when
    response = api.get("/orders?cursor=%FF%FE")

    # then
    assert_problem(response, 400, "invalid_cursor")


def test_a_tenant_header_that_is_not_ascii_is_invalid_tenant(client_for: ClientFor) -> None:
    # given: WSGI hands undecodable header bytes over as latin-1
    client = client_for("tenant-\xff")

    # when
    response = client.get("/orders")

    # then
    assert_problem(response, 400, "invalid_tenant")


def test_a_form_body_with_too_many_fields_is_a_bad_request_not_a_crash(
    api: Client, draft: Order
) -> None:
    # given
    body = "&".join(f"field{i}=1" for i in range(1000))
    before = db_state()

    # when
    response = confirm_raw(api, draft, body, "application/x-www-form-urlencoded")

    # then
    assert_problem(response, 400, "bad_request")
    assert db_state() == before


# --- server-side failures -------------------------------------------------------------


def test_an_unexpected_error_is_an_internal_error_without_a_stack_trace(
    api: Client, draft: Order, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given
    def broken(**kwargs: Any) -> Order:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(services, "order_get", broken)

    # when
    response = api.get(f"/orders/{draft.pk}")

    # then
    assert_problem(response, 500, "internal_error")
    assert b"secret internals" not in response.content
    assert b"Traceback" not in response.content


def test_an_unreachable_database_is_service_unavailable_with_retry_after(
    api: Client, draft: Order, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given
    def unreachable(**kwargs: Any) -> Order:
        raise OperationalError("could not connect to server")

    monkeypatch.setattr(services, "order_get", unreachable)

    # when
    response = api.get(f"/orders/{draft.pk}")

    # then
    assert_problem(response, 503, "service_unavailable")
    assert int(response["Retry-After"]) > 0


# --- probes ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_answer_200_without_a_tenant(path: str) -> None:
    # when
    response = Client().get(path)

    # then
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"


def test_readyz_is_503_when_the_database_is_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    # given
    class Unreachable:
        def cursor(self) -> None:
            raise OperationalError("could not connect to server")

    monkeypatch.setattr(health, "connection", Unreachable())

    # when
    response = Client().get("/readyz")

    # then
    assert_problem(response, 503, "service_unavailable")
    assert "Retry-After" in response


def test_readyz_is_503_while_migrations_are_pending(monkeypatch: pytest.MonkeyPatch) -> None:
    # given: a process that has not yet seen every migration applied
    monkeypatch.setattr(health, "_migrations_applied", False)
    real_call_command = health.call_command

    def migrate_check_fails(name: str, **options: object) -> None:
        # what `migrate --check` does with a migration left to apply
        assert (name, options.get("check_unapplied")) == ("migrate", True)
        real_call_command(name, **options)  # the real check runs, and passes
        raise SystemExit(1)

    monkeypatch.setattr(health, "call_command", migrate_check_fails)

    # when
    response = Client().get("/readyz")

    # then
    problem = assert_problem(response, 503, "service_unavailable")
    assert "migrat" in problem["detail"]


def test_healthz_stays_up_when_the_database_is_not(monkeypatch: pytest.MonkeyPatch) -> None:
    # given
    class Unreachable:
        def cursor(self) -> None:
            raise OperationalError("could not connect to server")

    monkeypatch.setattr(health, "connection", Unreachable())

    # when
    response = Client().get("/healthz")

    # then
    assert response.status_code == 200


# --- OpenAPI and docs -----------------------------------------------------------------

CONTRACT_CODES = {
    "tenant_required",
    "invalid_tenant",
    "idempotency_key_required",
    "invalid_idempotency_key",
    "validation_error",
    "invalid_cursor",
    "malformed_json",
    "not_found",
    "method_not_allowed",
    "invalid_state_transition",
    "idempotency_key_in_use",
    "stale_version",
    "payload_too_large",
    "unsupported_media_type",
    "idempotency_key_reused",
    "precondition_required",
    "internal_error",
}


@pytest.fixture
def schema() -> dict[str, Any]:
    response = Client().get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        *_, name = node["$ref"].split("/")
        node = schema["components"]["schemas"][name]
    return node


def header_params(operation: dict[str, Any]) -> dict[str, bool]:
    return {
        p["name"]: p.get("required", False)
        for p in operation.get("parameters", [])
        if p["in"] == "header"
    }


def test_openapi_documents_the_request_headers_of_every_operation(
    schema: dict[str, Any],
) -> None:
    # given
    paths = schema["paths"]

    # when
    headers = {
        (path, method): header_params(operation)
        for path, item in paths.items()
        if path.startswith("/orders")
        for method, operation in item.items()
    }

    # then
    assert headers == {
        ("/orders", "get"): {"X-Tenant-Id": True},
        ("/orders", "post"): {"X-Tenant-Id": True, "Idempotency-Key": True},
        ("/orders/{id}", "get"): {"X-Tenant-Id": True, "If-None-Match": False},
        ("/orders/{id}/confirm", "patch"): {
            "X-Tenant-Id": True,
            "If-Match": True,
            "Idempotency-Key": False,
        },
        ("/orders/{id}/close", "post"): {
            "X-Tenant-Id": True,
            "If-Match": False,
            "Idempotency-Key": False,
        },
    }


@pytest.mark.parametrize(
    ("path", "method", "codes"),
    [
        ("/orders", "post", {"201", "400", "409", "413", "415", "422", "500"}),
        ("/orders", "get", {"200", "400", "500"}),
        ("/orders/{id}", "get", {"200", "304", "400", "404", "500"}),
        (
            "/orders/{id}/confirm",
            "patch",
            {"200", "400", "404", "409", "412", "413", "415", "422", "428", "500"},
        ),
        ("/orders/{id}/close", "post", {"200", "400", "404", "409", "412", "422", "500"}),
    ],
)
def test_openapi_documents_every_response_code_and_errors_as_problems(
    schema: dict[str, Any], path: str, method: str, codes: set[str]
) -> None:
    # when
    responses = schema["paths"][path][method]["responses"]

    # then: the operation's own codes, and the HTTP parser's refusals that any request
    # can meet before a view runs (a long query string, too many header fields)
    assert codes | {"414", "431"} <= set(responses)
    for code, response in responses.items():
        if int(code) < 400:
            continue
        (media_type,) = response["content"]
        assert media_type == "application/problem+json", (path, method, code)
        problem = resolve(schema, response["content"][media_type]["schema"])
        assert {"type", "title", "status", "detail", "code"} <= set(problem["required"])


def test_openapi_lists_every_problem_code_of_the_contract(schema: dict[str, Any]) -> None:
    # when
    problem = resolve(schema, {"$ref": "#/components/schemas/Problem"})
    codes = set(resolve(schema, problem["properties"]["code"])["enum"])
    errors = resolve(schema, problem["properties"]["errors"]["items"])

    # then
    assert codes >= CONTRACT_CODES
    assert set(errors["properties"]) == {"field", "code", "message"}


def test_openapi_documents_the_response_headers(schema: dict[str, Any]) -> None:
    # given
    paths = schema["paths"]

    # when
    created = paths["/orders"]["post"]["responses"]["201"]["headers"]
    fetched = paths["/orders/{id}"]["get"]["responses"]
    confirmed = paths["/orders/{id}/confirm"]["patch"]["responses"]
    closed = paths["/orders/{id}/close"]["post"]["responses"]

    # then
    assert {"ETag", "Location", "Idempotent-Replayed"} <= set(created)
    assert "ETag" in fetched["200"]["headers"]
    assert "ETag" in fetched["304"]["headers"]
    assert {"ETag", "Idempotent-Replayed"} <= set(confirmed["200"]["headers"])
    assert {"ETag", "Idempotent-Replayed"} <= set(closed["200"]["headers"])
    assert "Retry-After" in confirmed["409"]["headers"]
    assert "Retry-After" in paths["/orders"]["post"]["responses"]["409"]["headers"]


def test_openapi_documents_the_order_with_all_its_fields(schema: dict[str, Any]) -> None:
    # when
    order = resolve(schema, {"$ref": "#/components/schemas/OrderOutput"})

    # then
    fields = {
        "id",
        "tenantId",
        "status",
        "version",
        "totalCents",
        "createdAt",
        "updatedAt",
        "closedAt",
    }
    assert set(order["properties"]) == fields
    assert set(order["required"]) == fields


def test_docs_serve_swagger_ui_from_this_server_only() -> None:
    # when
    response = Client().get("/docs")

    # then
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert "SwaggerUIBundle" in html
    assert '"/openapi.json"' in html
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", html, re.IGNORECASE)
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert any(asset.endswith("swagger-ui-bundle.js") for asset in assets)
    for asset in assets:
        assert asset.startswith("/"), asset
        assert Client().get(asset).status_code == 200, asset
