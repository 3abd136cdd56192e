"""drf-spectacular post-processing: problem+json error bodies and response headers."""

from typing import Any

from django.conf import settings

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
    _document_access(result)
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


_API_KEY_SCHEMES = {
    "tenantApiKey": {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key of the tenant named by X-Tenant-Id.",
    },
    "tenantApiKeyHeader": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Api-Key",
        "description": "The same key, in X-Api-Key instead of Authorization.",
    },
}


def _problem(description: str) -> dict[str, Any]:
    schema = {"$ref": "#/components/schemas/Problem"}
    return {"description": description, "content": {PROBLEM_CONTENT_TYPE: {"schema": schema}}}


def _document_access(result: dict[str, Any]) -> None:
    """Who may call /orders, as TENANT_AUTH_MODE says (orders/access.py).

    trusted-header: the gateway vouches for X-Tenant-Id, so no credential is needed; a
    browser session is optional. api-key: a key of the tenant, or a member's session.
    Either way a session acting for a tenant its user is not a member of is 403.
    """
    api_key_mode = settings.TENANT_AUTH_MODE == "api-key"
    if api_key_mode:
        result.setdefault("components", {}).setdefault("securitySchemes", {}).update(
            _API_KEY_SCHEMES
        )
    for path, path_item in result.get("paths", {}).items():
        if not path.startswith(settings.TENANT_SCOPED_PATH_PREFIXES):
            continue
        for operation in path_item.values():
            responses = operation.setdefault("responses", {})
            if api_key_mode:
                operation["security"] = [
                    {"tenantApiKey": []},
                    {"tenantApiKeyHeader": []},
                    {"cookieAuth": []},
                ]
                responses.setdefault("401", _problem("unauthenticated: no valid API key"))
            else:
                operation["security"] = [{"cookieAuth": []}, {}]
            responses.setdefault(
                "403", _problem("tenant_forbidden: the session's user is not a member")
            )
