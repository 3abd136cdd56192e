"""Errors from every layer are problem+json; probes, the schema and the docs page."""

import re
import uuid
from typing import Any

import pytest
from django.db import OperationalError
from django.test import Client

from idempotency import decorators as idempotency_decorators
from orders import services
from orders.models import Order
from orders.tests import http
from orders.tests.factories import OrderFactory
from orders.tests.http import assert_problem
from orders_project import health
from orders_project.errors import PROBLEM_TYPES, ProblemError

pytestmark = pytest.mark.django_db

BODY_LIMIT = 64 * 1024
DEEP = "[" * 20_000 + "]" * 20_000  # far past the parser's recursion limit, under 64 KiB


@pytest.fixture
def draft() -> Order:
    return OrderFactory.create()


# --- Django's and DRF's own refusals --------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/nope",
        "/orders/",
        "/orders/{id}/nope",
        "/orders/{id}/confirm/",
        "/static/x.js",
        "/orders/%FF%FE",  # not UTF-8
    ],
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
    before = http.db_state()

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
    assert http.db_state() == before


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

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
OVER_LIMIT = '{"totalCents": 1, "pad": "' + "x" * BODY_LIMIT + '"}'
MALFORMED = {
    "unterminated": '{"totalCents": 50',
    "single-quotes": "{'totalCents': 50}",
    "nan": '{"totalCents": NaN}',
    "infinity": '{"totalCents": Infinity}',
    "trailing": '{"totalCents": 50} trailing',
    "brace": "{",
    "nested-too-deeply": DEEP,
    "a-member-named-twice": '{"totalCents": 50, "totalCents": 60}',
    "a-nested-member-named-twice": '{"totalCents": 50, "x": {"a": 1, "a": 1}}',
}
NOT_UTF8 = {
    "invalid-byte": b'{"totalCents": "\xff"}',
    "utf16-bom": b"\xff\xfe{}",
    "truncated-trailing-sequence": b'{"totalCents": 5000}\xc3',
}
# A body is read as UTF-8 only: any other charset is refused unread (the test client
# encodes a str body in the charset its Content-Type names).
OTHER_CHARSETS = ["cp500", "utf-7", "utf-32", "utf-16", "latin-1"]
REFUSED_BODIES = [
    *(
        pytest.param(OVER_LIMIT, ct, (413, "payload_too_large"), id=f"over-the-limit-{ct}")
        for ct in (JSON, FORM)
    ),
    pytest.param(
        "x" * (BODY_LIMIT + 1), JSON, (413, "payload_too_large"), id="over-the-limit-raw"
    ),
    *(
        pytest.param("--x--", ct, (415, "unsupported_media_type"), id=f"unsupported-{ct}")
        for ct in ("text/plain", "application/xml", "multipart/form-data; boundary=x")
    ),
    *(
        pytest.param(body, ct, (400, "malformed_json"), id=f"malformed-{name}-{ct}")
        for name, body in MALFORMED.items()
        for ct in (JSON, FORM)
    ),
    *(
        pytest.param(body, JSON, (400, "malformed_json"), id=f"not-utf8-{name}")
        for name, body in NOT_UTF8.items()
    ),
    *(
        pytest.param(
            '{"totalCents": 50}',
            f"{ct}; charset={charset}",
            (415, "unsupported_media_type"),
            id=f"charset-{charset}-{ct}",
        )
        for charset in OTHER_CHARSETS
        for ct in (JSON, FORM)
    ),
    pytest.param(
        "&".join(f"field{i}=1" for i in range(1000)),
        FORM,
        (400, "bad_request"),
        id="too-many-fields",
    ),
]


@pytest.mark.parametrize(("body", "content_type", "refusal"), REFUSED_BODIES)
def test_a_refused_body_is_a_problem_and_changes_nothing(
    api: Client, draft: Order, body: str | bytes, content_type: str, refusal: tuple[int, str]
) -> None:
    # given
    before = http.db_state()

    # when: a keyed write's body is fingerprinted by @idempotent before the action parses it
    responses = [
        http.create(api, key="raw", body=body, content_type=content_type),
        http.confirm(api, draft.pk, body=body, content_type=content_type),
        http.confirm(api, draft.pk, body=body, content_type=content_type, key="keyed"),
    ]

    # then
    for response in responses:
        assert_problem(response, *refusal)
    assert http.db_state() == before


@pytest.mark.parametrize("content_type", [JSON, FORM])
def test_a_body_in_an_unknown_charset_is_unsupported(api: Client, content_type: str) -> None:
    # when
    response = api.generic(
        "POST",
        "/orders",
        b"{}",
        content_type=f"{content_type}; charset=no-such-charset",
        headers={"Idempotency-Key": "unknown-charset"},
    )

    # then
    assert_problem(response, 415, "unsupported_media_type")


@pytest.mark.parametrize("charset", ["utf-8", "UTF-8", "utf8"])
@pytest.mark.parametrize("content_type", [JSON, FORM])
def test_a_body_declared_utf8_under_any_of_its_names_is_read(
    api: Client, draft: Order, charset: str, content_type: str
) -> None:
    # when
    response = http.confirm(
        api,
        draft.pk,
        body=b'{"totalCents": 50}',
        content_type=f"{content_type}; charset={charset}",
    )

    # then
    assert http.assert_order_response(response)["totalCents"] == 50


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("status=%FF", "validation_error"),
        ("limit=%FF", "validation_error"),
        ("cursor=%FF%FE", "invalid_cursor"),
    ],
)
def test_invalid_utf8_in_the_query_is_refused_as_that_parameter(
    api: Client, query: str, code: str
) -> None:
    # when
    response = api.get(f"/orders?{query}")

    # then
    assert_problem(response, 400, code)


def test_a_tenant_header_that_is_not_ascii_is_invalid_tenant(client_for: http.ClientFor) -> None:
    # given: WSGI hands undecodable header bytes over as latin-1
    client = client_for("tenant-\xff")

    # when
    response = client.get("/orders")

    # then
    assert_problem(response, 400, "invalid_tenant")


# --- server-side failures -------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "refusal"),
    [
        (RuntimeError("secret internals"), (500, "internal_error")),
        (OperationalError("secret internals: no connection"), (503, "service_unavailable")),
    ],
)
def test_a_failing_service_is_a_problem_without_its_internals(
    api: Client, monkeypatch: pytest.MonkeyPatch, error: Exception, refusal: tuple[int, str]
) -> None:
    # given
    def failing(**kwargs: Any) -> Order:
        raise error

    monkeypatch.setattr(services, "order_get", failing)

    # when
    response = api.get(f"/orders/{uuid.uuid4()}")

    # then
    assert_problem(response, *refusal)
    assert b"secret internals" not in response.content
    assert b"Traceback" not in response.content


def test_an_unreachable_database_is_service_unavailable_with_retry_after(
    api: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: the outage hits the idempotent write's own statements, before the action runs
    def unreachable(**kwargs: Any) -> None:
        raise OperationalError("could not connect to server")

    monkeypatch.setattr(idempotency_decorators, "idempotent_execute", unreachable)

    # when
    response = api.post(
        "/orders", data={}, content_type="application/json", headers={"Idempotency-Key": "k"}
    )

    # then
    assert_problem(response, 503, "service_unavailable")
    assert int(response["Retry-After"]) > 0


def test_a_problem_code_names_one_status_and_title() -> None:
    # when / then: a second class may refine a problem's detail, never its status
    with pytest.raises(TypeError, match="not_found"):

        class Gone(ProblemError):
            status_code = 410
            default_code = "not_found"
            title = "Gone"
            default_detail = "Gone."


# --- probes ---------------------------------------------------------------------------


class Unreachable:
    def cursor(self) -> None:
        raise OperationalError("could not connect to server")


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_answer_200_without_a_tenant(path: str) -> None:
    # when
    response = Client().get(path)

    # then
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"


def test_readyz_is_503_and_healthz_stays_up_when_the_database_is_unreachable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given
    monkeypatch.setattr(health, "connection", Unreachable())

    # when
    ready = Client().get("/readyz")
    live = Client().get("/healthz")

    # then
    assert_problem(ready, 503, "service_unavailable")
    assert "Retry-After" in ready
    assert live.status_code == 200


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
    assert response["Retry-After"] == "5"


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
    # the proxy's own answers in the production shape (deploy/haproxy)
    "request_timeout",
    "rate_limited",
    "service_unavailable",
}


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
            "traceparent": False,
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

    # then: every code an error class declares, the contract's among them
    assert codes == set(PROBLEM_TYPES)
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
    assert set(order["properties"]) == http.ORDER_FIELDS
    assert set(order["required"]) == http.ORDER_FIELDS


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
