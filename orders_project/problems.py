"""RFC 9457 problem details: the one error body of this service.

Every non-2xx response is built here from a ProblemError (orders_project/errors.py),
whether it comes from a domain error, DRF, a middleware or Django itself, so clients can
rely on one shape and one `code`. `as_problem` decides what a client is told about an
exception that is not one of ours; DRF's exception handler (api.py) and Django's error
views below both ask it.
"""

import json
import logging
import sys
from typing import Any

from django.conf import settings
from django.core.exceptions import BadRequest as DjangoBadRequest
from django.core.exceptions import (
    DisallowedHost,
    PermissionDenied,
    RequestDataTooBig,
    SuspiciousOperation,
)
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError

from orders_project.errors import (
    BadRequest,
    Forbidden,
    InternalError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    ProblemError,
    ServiceUnavailable,
    TooManyLoginFailures,
)

PROBLEM_CONTENT_TYPE = "application/problem+json"
# Longest part of a refused Host header that a log line repeats.
_LOGGED_HOST_MAX = 100

logger = logging.getLogger(__name__)


def problem_response(error: ProblemError) -> HttpResponse:
    """The problem+json response of `error`: its class's status, and the headers it names."""
    return HttpResponse(
        json.dumps(error.body()),
        status=error.status_code,
        content_type=PROBLEM_CONTENT_TYPE,
        headers=error.headers,
    )


def as_problem(exc: BaseException | None) -> ProblemError:
    """What a client is told about `exc`; anything unforeseen is an internal error."""
    if isinstance(exc, ProblemError):
        return exc
    if isinstance(exc, Http404):
        return NotFound()
    if isinstance(exc, RequestDataTooBig):
        return PayloadTooLarge()
    # Django's own 400s: a form with too many fields, a bad multipart body, a bad host.
    if isinstance(exc, SuspiciousOperation | DjangoBadRequest | MultiPartParserError):
        return BadRequest()
    if isinstance(exc, PermissionDenied):
        return Forbidden()
    if isinstance(exc, OperationalError | InterfaceError) or type(exc) is DatabaseError:
        # The database is down or busy (a lost connection, a lock timeout): not our bug.
        return ServiceUnavailable()
    return InternalError()


def only_get(request: HttpRequest) -> HttpResponse | None:
    """405 problem+json (with Allow) unless the request is GET or HEAD; else None."""
    if request.method in ("GET", "HEAD"):
        return None
    return problem_response(
        MethodNotAllowed(f'Method "{request.method}" not allowed.', headers={"Allow": "GET, HEAD"})
    )


def login_locked_out(
    request: HttpRequest, response: HttpResponse | None, credentials: dict[str, Any] | None
) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: a login refused for too many failures, 429 with Retry-After."""
    return problem_response(
        TooManyLoginFailures(
            headers={"Retry-After": str(int(settings.AXES_COOLOFF_TIME.total_seconds()))}
        )
    )


# Django's own error views (wired in urls.py), so no path ever answers with HTML.
def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler400: suspicious or malformed requests Django rejects itself."""
    if isinstance(exception, DisallowedHost):
        # Any client can send any Host: a line, not Django's ERROR and traceback (its
        # django.security.DisallowedHost logger is silenced in settings).
        # Without a Host header (HTTP/1.0), Django judged the server's name instead.
        host = request.META.get("HTTP_HOST", request.META.get("SERVER_NAME", ""))
        logger.warning(
            "refused a request for Host %r: not in ALLOWED_HOSTS", host[:_LOGGED_HOST_MAX]
        )
    return problem_response(as_problem(exception) if exception else BadRequest())


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler403."""
    return problem_response(Forbidden())


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: a refused unsafe request to a session-authenticated page."""
    return problem_response(Forbidden(f"CSRF verification failed: {reason}".strip()))


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler404."""
    return problem_response(NotFound("No resource lives at this URL."))


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500; Django has already logged the exception."""
    return problem_response(as_problem(sys.exc_info()[1]))
