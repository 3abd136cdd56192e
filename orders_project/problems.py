"""RFC 9457 problem details: the one error body of this service.

Every non-2xx response is built here, whether it comes from a domain error, DRF,
a middleware or Django itself, so clients can rely on one shape and one `code`.
"""

import json
import logging
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse

from orders_project.errors import FieldError
from orders_project.wire_errors import problem_type_uri

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"

# code -> (HTTP status, title). The codes are the stable contract; titles are prose.
PROBLEM_TYPES: dict[str, tuple[int, str]] = {
    "tenant_required": (400, "Tenant required"),
    "invalid_tenant": (400, "Invalid tenant"),
    "idempotency_key_required": (400, "Idempotency key required"),
    "invalid_idempotency_key": (400, "Invalid idempotency key"),
    "validation_error": (400, "Validation error"),
    "invalid_cursor": (400, "Invalid cursor"),
    "malformed_json": (400, "Malformed JSON"),
    "bad_request": (400, "Bad request"),
    "unauthenticated": (401, "Unauthenticated"),
    "forbidden": (403, "Forbidden"),
    "tenant_forbidden": (403, "Tenant forbidden"),
    "not_found": (404, "Not found"),
    "method_not_allowed": (405, "Method not allowed"),
    "not_acceptable": (406, "Not acceptable"),
    "invalid_state_transition": (409, "Invalid state transition"),
    "idempotency_key_in_use": (409, "Idempotency key in use"),
    "stale_version": (412, "Stale version"),
    "payload_too_large": (413, "Payload too large"),
    "unsupported_media_type": (415, "Unsupported media type"),
    "idempotency_key_reused": (422, "Idempotency key reused"),
    "precondition_required": (428, "Precondition required"),
    # Answered by gunicorn's HTTP parser, before the app (orders_project/wire_errors.py).
    "uri_too_long": (414, "URI too long"),
    "expectation_failed": (417, "Expectation failed"),
    "header_fields_too_large": (431, "Request header fields too large"),
    "not_implemented": (501, "Not implemented"),
    "internal_error": (500, "Internal server error"),
    "service_unavailable": (503, "Service unavailable"),
}


def problem_response(
    code: str,
    detail: str,
    *,
    errors: Sequence[FieldError] = (),
    headers: Mapping[str, str] | None = None,
) -> HttpResponse:
    """Build the problem+json response for `code`, with its registered status."""
    status, title = PROBLEM_TYPES[code]
    body: dict[str, Any] = {
        "type": problem_type_uri(code),
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors:
        body["errors"] = [asdict(error) for error in errors]
    response = HttpResponse(json.dumps(body), status=status, content_type=PROBLEM_CONTENT_TYPE)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def only_get(request: HttpRequest) -> HttpResponse | None:
    """405 problem+json (with Allow) unless the request is GET or HEAD; else None."""
    if request.method in ("GET", "HEAD"):
        return None
    return problem_response(
        "method_not_allowed",
        f'Method "{request.method}" not allowed.',
        headers={"Allow": "GET, HEAD"},
    )


def service_unavailable() -> HttpResponse:
    """503 for a database that cannot be reached right now; clients should retry."""
    return problem_response(
        "service_unavailable",
        "The database is unavailable; retry shortly.",
        headers={"Retry-After": "1"},
    )


def is_database_unavailable(exc: BaseException) -> bool:
    """True for failures that say the database is down or busy, not that we erred."""
    return isinstance(exc, OperationalError | InterfaceError) or (
        isinstance(exc, DatabaseError) and exc.__class__ is DatabaseError
    )


# Django's own error views (wired in urls.py), so no path ever answers with HTML.
def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler400: suspicious or malformed requests Django rejects itself."""
    if isinstance(exception, RequestDataTooBig):
        return payload_too_large()
    return problem_response("bad_request", "The request could not be understood.")


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler403."""
    return problem_response("forbidden", "The request was refused.")


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: a refused unsafe request to a session-authenticated page."""
    return problem_response("forbidden", f"CSRF verification failed: {reason}".strip())


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler404."""
    return problem_response("not_found", "No resource lives at this URL.")


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500; Django has already logged the exception."""
    exc = sys.exc_info()[1]
    if exc is not None and is_database_unavailable(exc):
        return service_unavailable()
    return problem_response("internal_error", "An unexpected error occurred.")


def payload_too_large() -> HttpResponse:
    """413 for a body over REQUEST_MAX_BODY_BYTES."""
    return problem_response("payload_too_large", "The request body is too large.")
