"""drf-spectacular post-processing: who may call the tenant-scoped paths.

TENANT_AUTH_MODE decides it for the whole deployment, so no single view declares it.
trusted-header: the gateway vouches for X-Tenant-Id, so no credential is needed; a
browser session is optional. api-key: a key of the tenant, or a member's session.
Either way a session acting for a tenant its user is not a member of is 403.
"""

from typing import Any

from django.conf import settings

from orders_project.errors import ProblemError, Unauthenticated
from orders_project.problems import PROBLEM_CONTENT_TYPE
from tenancy.access import API_KEY
from tenancy.errors import TenantForbidden

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


def postprocess_access(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Document who may call each tenant-scoped operation, as TENANT_AUTH_MODE says."""
    api_key_mode = settings.TENANT_AUTH_MODE == API_KEY
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
    return result


def _problem(error: type[ProblemError]) -> dict[str, Any]:
    schema = {"$ref": "#/components/schemas/Problem"}
    return {
        "description": f"- `{error.default_code}`: {error.default_detail}",
        "content": {PROBLEM_CONTENT_TYPE: {"schema": schema}},
    }
