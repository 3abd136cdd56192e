"""drf-spectacular post-processing: what no single view declares.

Links between operations, and who may call /orders, which TENANT_AUTH_MODE decides for
the whole deployment. Each operation's own headers and problems are declared beside its
view (orders/api/schema.py).
"""

from typing import Any

from django.conf import settings

from orders.errors import TenantForbidden, Unauthenticated
from orders_project.errors import ProblemError
from orders_project.problems import PROBLEM_CONTENT_TYPE

# OpenAPI links: what a client can do next with the order a response names.
_ORDER_ID = {"id": "$response.body#/id"}
_LINKS = {
    ("orders_create", "201"): ["orders_retrieve", "orders_confirm", "orders_close"],
    ("orders_confirm", "200"): ["orders_retrieve", "orders_close"],
    ("orders_close", "200"): ["orders_retrieve"],
}


def postprocess_problem_responses(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Document who may call /orders, and link each order-returning write to the
    operations on that order."""
    _document_access(result)
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            for code, response in operation.get("responses", {}).items():
                targets = _LINKS.get((operation.get("operationId", ""), str(code)), [])
                if targets:
                    response["links"] = {
                        target: {"operationId": target, "parameters": _ORDER_ID}
                        for target in targets
                    }
    return result


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


def _problem(error: type[ProblemError]) -> dict[str, Any]:
    schema = {"$ref": "#/components/schemas/Problem"}
    return {
        "description": f"- `{error.default_code}`: {error.default_detail}",
        "content": {PROBLEM_CONTENT_TYPE: {"schema": schema}},
    }


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
                responses.setdefault("401", _problem(Unauthenticated))
            else:
                operation["security"] = [{"cookieAuth": []}, {}]
            responses.setdefault("403", _problem(TenantForbidden))
