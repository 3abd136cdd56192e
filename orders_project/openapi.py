"""drf-spectacular post-processing: problem+json error bodies and response headers."""

from typing import Any

from orders_project.problems import PROBLEM_CONTENT_TYPE

_HEADERS = {
    "ETag": {
        "description": 'The order\'s version as an entity tag, e.g. "3".',
        "schema": {"type": "string"},
    },
    "Location": {
        "description": "URL of the created order.",
        "schema": {"type": "string"},
    },
    "Idempotent-Replayed": {
        "description": "`true` when this is the stored response of an earlier request "
        "with the same Idempotency-Key.",
        "schema": {"type": "string", "enum": ["true"]},
    },
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer"},
    },
}


# OpenAPI links: what a client can do next with the order a response names.
_ORDER_ID = {"id": "$response.body#/id"}
_LINKS = {
    ("orders_create", "201"): ["orders_retrieve", "orders_confirm", "orders_close"],
    ("orders_confirm", "200"): ["orders_retrieve", "orders_close"],
    ("orders_close", "200"): ["orders_retrieve"],
}


def postprocess_problem_responses(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Serve error bodies as application/problem+json, document response headers, and
    link each order-returning write to the operations on that order."""
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            for code, response in operation.get("responses", {}).items():
                _annotate(method, str(code), response)
                targets = _LINKS.get((operation.get("operationId", ""), str(code)), [])
                if targets:
                    response["links"] = {
                        target: {"operationId": target, "parameters": _ORDER_ID}
                        for target in targets
                    }
    return result


def _annotate(method: str, code: str, response: dict[str, Any]) -> None:
    content: dict[str, Any] = response.get("content", {})
    status = int(code) if code.isdigit() else 0
    if status >= 400 and content:
        schema = next(iter(content.values()))
        response["content"] = {PROBLEM_CONTENT_TYPE: schema}
    headers: dict[str, Any] = {}
    media: dict[str, Any] = next(iter(content.values()), {})
    schema_ref = str(media.get("schema", {}).get("$ref", ""))
    if schema_ref.endswith("/OrderOutput") or code == "304":
        headers["ETag"] = _HEADERS["ETag"]
    if code == "201":
        headers["Location"] = _HEADERS["Location"]
    if method in ("post", "patch") and 200 <= status < 300:
        headers["Idempotent-Replayed"] = _HEADERS["Idempotent-Replayed"]
    if code in ("409", "503"):
        headers["Retry-After"] = _HEADERS["Retry-After"]
    if headers:
        response["headers"] = headers
