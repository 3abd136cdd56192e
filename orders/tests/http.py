"""The orders API as the tests of every app call it, and what they assert of its answers.

Requests go out the way the contract's curl examples send them; `assert_problem` and
`assert_order_response` check the shape every error and every single-order answer has.
Test code only: nothing outside a `tests` package imports this module.
"""

import uuid
from collections.abc import Callable, Mapping
from enum import Enum
from typing import TYPE_CHECKING, Any, Literal

from django.test import Client

from orders.models import Order
from outbox.models import OutboxEvent

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse as ClientResponse
else:
    from django.http import HttpResponse as ClientResponse

TENANT = "tenant-1"
JSON = "application/json"
CURL_FORM = "application/x-www-form-urlencoded"  # what `curl -d` sends without a Content-Type
PROBLEM_KEYS = {"type", "title", "status", "detail", "code"}
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

Body = bytes | str | Mapping[str, Any]

# The types of the root conftest's `client_for` and `concurrently` fixtures.
ClientFor = Callable[[str], Client]
Concurrently = Callable[[Callable[[int], Any], int], list[Any]]


class _Fresh(Enum):
    KEY = "a new Idempotency-Key for each request"


def _headers(*, key: str | None = None, if_match: str | None = None) -> dict[str, str]:
    headers = {} if key is None else {"Idempotency-Key": key}
    if if_match is not None:
        headers["If-Match"] = if_match
    return headers


def create(
    client: Client,
    *,
    key: str | Literal[_Fresh.KEY] | None = _Fresh.KEY,
    body: Body = b"{}",
    content_type: str = JSON,
) -> ClientResponse:
    """POST /orders with `body`. Keyed with `key`, a new key by default, none when None."""
    if key is _Fresh.KEY:
        key = uuid.uuid4().hex
    return client.post("/orders", data=body, content_type=content_type, headers=_headers(key=key))


def confirm(
    client: Client,
    order_id: object,
    *,
    total: object = 5000,
    body: Body | None = None,
    if_match: str | None = "1",
    key: str | None = None,
    content_type: str = JSON,
) -> ClientResponse:
    """PATCH /orders/{id}/confirm with `{"totalCents": total}`, or with `body` as it is."""
    return client.patch(
        f"/orders/{order_id}/confirm",
        data={"totalCents": total} if body is None else body,
        content_type=content_type,
        headers=_headers(key=key, if_match=if_match),
    )


def close(
    client: Client, order_id: object, *, if_match: str | None = None, key: str | None = None
) -> ClientResponse:
    """POST /orders/{id}/close as `curl -X POST` sends it: no body, no Content-Type."""
    return client.generic(
        "POST", f"/orders/{order_id}/close", headers=_headers(key=key, if_match=if_match)
    )


def get(client: Client, order_id: object, *, if_none_match: str | None = None) -> ClientResponse:
    """GET /orders/{id}, conditional when `if_none_match` is given."""
    headers = {} if if_none_match is None else {"If-None-Match": if_none_match}
    return client.get(f"/orders/{order_id}", headers=headers)


def list_orders(client: Client, **query: object) -> ClientResponse:
    """GET /orders with `query` (limit, cursor, status) as its query string."""
    return client.get("/orders", query_params=query)


def assert_problem(response: ClientResponse, status: int, code: str) -> dict[str, Any]:
    """Assert `response` is an RFC 9457 problem with `status` and `code`; return its body."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json", response["Content-Type"]
    body: dict[str, Any] = response.json()
    assert body.keys() >= PROBLEM_KEYS, body
    assert body["status"] == status, body
    assert body["code"] == code, body
    assert body["type"].endswith(code.replace("_", "-")), body
    assert body["title"], body
    assert body["detail"], body
    return body


def assert_order_response(response: ClientResponse, status: int = 200) -> dict[str, Any]:
    """A single-order answer: JSON with all 8 fields and an ETag of its version."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == JSON, response["Content-Type"]
    body: dict[str, Any] = response.json()
    assert set(body) == ORDER_FIELDS, body
    assert response["ETag"] == f'"{body["version"]}"', (response["ETag"], body)
    return body


def db_state() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every order and outbox row, to prove that a refused request wrote nothing."""
    return (
        [dict(row) for row in Order.objects.order_by("pk").values()],
        [dict(row) for row in OutboxEvent.objects.order_by("sequence").values()],
    )
