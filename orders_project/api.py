"""DRF wiring: the one exception handler that turns every error into problem+json."""

import io
import logging
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import Http404, HttpResponse
from drf_spectacular.authentication import SessionScheme
from rest_framework import authentication, exceptions, parsers

from orders_project.errors import DomainError, FieldError, ValidationFailed
from orders_project.problems import (
    is_database_unavailable,
    payload_too_large,
    problem_response,
    service_unavailable,
)

logger = logging.getLogger(__name__)


class PayloadTooLarge(exceptions.APIException):
    """413: the body is over REQUEST_MAX_BODY_BYTES."""

    status_code = 413
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


# DRF's own exceptions, by class, to our stable codes.
_DRF_CODES: list[tuple[type[exceptions.APIException], str]] = [
    (exceptions.ParseError, "malformed_json"),
    (PayloadTooLarge, "payload_too_large"),
    (exceptions.UnsupportedMediaType, "unsupported_media_type"),
    (exceptions.MethodNotAllowed, "method_not_allowed"),
    (exceptions.NotAcceptable, "not_acceptable"),
    (exceptions.NotFound, "not_found"),
    (exceptions.PermissionDenied, "forbidden"),
    (exceptions.NotAuthenticated, "forbidden"),
    (exceptions.AuthenticationFailed, "forbidden"),
]


def exception_handler(exc: Exception, context: dict[str, Any]) -> HttpResponse:
    """Map domain, DRF and Django errors to problem+json; log and hide anything else."""
    if isinstance(exc, ValidationFailed):
        return problem_response(exc.code, exc.detail, errors=exc.errors)
    if isinstance(exc, DomainError):
        return problem_response(exc.code, exc.detail)
    if isinstance(exc, exceptions.ValidationError):
        return problem_response(
            "validation_error",
            "The request has invalid fields.",
            errors=field_errors(exc.detail),
        )
    if isinstance(exc, exceptions.APIException):
        for exc_class, code in _DRF_CODES:
            if isinstance(exc, exc_class):
                return problem_response(code, str(exc.detail))
        return problem_response("bad_request", str(exc.detail))
    if isinstance(exc, Http404):
        return problem_response("not_found", "Not found.")
    if isinstance(exc, RequestDataTooBig):
        return payload_too_large()
    if isinstance(exc, SuspiciousOperation):  # e.g. a form with too many fields
        return problem_response("bad_request", "The request could not be understood.")
    if is_database_unavailable(exc):
        logger.warning("database unavailable: %s", exc)
        return service_unavailable()
    logger.exception("unhandled error", exc_info=exc)
    return problem_response("internal_error", "An unexpected error occurred.")


def field_errors(detail: Any, prefix: str = "") -> list[FieldError]:
    """Flatten DRF's nested ValidationError detail into one entry per field."""
    if isinstance(detail, dict):
        flattened: list[FieldError] = []
        for name, value in detail.items():
            field = name if name != "non_field_errors" else ""
            flattened += field_errors(value, f"{prefix}.{field}" if prefix else field)
        return flattened
    if isinstance(detail, list):
        flattened = []
        for item in detail:
            flattened += field_errors(item, prefix)
        return flattened
    code = getattr(detail, "code", "invalid")
    return [FieldError(field=prefix, code=str(code), message=str(detail))]


def _read_bounded(stream: IO[bytes] | None) -> bytes:
    # DRF reads the raw stream and so skips Django's DATA_UPLOAD_MAX_MEMORY_SIZE check.
    if stream is None:
        return b""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge()
    return data


class JSONBodyParser(parsers.JSONParser):
    """DRF's strict JSON parser, with a size limit and deep nesting refused as malformed."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        data = _read_bounded(stream)
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            # DRF's incremental reader drops a truncated trailing sequence silently.
            data.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            raise exceptions.ParseError(f"JSON parse error - body is not {encoding}.") from None
        try:
            return super().parse(io.BytesIO(data), media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError("JSON parse error - nested too deeply.") from None


class FormOrJSONParser(parsers.FormParser):
    """Form bodies, except a body that is JSON: `curl -d '{}'` sends JSON as a form."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        data = _read_bounded(stream)
        if data.lstrip()[:1] in (b"{", b"["):
            return JSONBodyParser().parse(io.BytesIO(data), media_type, parser_context)
        return super().parse(io.BytesIO(data), media_type, parser_context)


class SessionAuthentication(authentication.SessionAuthentication):
    """DRF's, for browsers: a request without a session cookie has no session to check.

    Programs never send one, and for them DRF's own class would still build the lazy
    user and look up an empty session on every call, to find the anonymous user.
    """

    def authenticate(self, request: Any) -> Any:
        if settings.SESSION_COOKIE_NAME not in request.COOKIES:
            return None
        return super().authenticate(request)


class SessionCookieScheme(SessionScheme):
    """The OpenAPI security scheme of the class above: DRF's own `cookieAuth`."""

    target_class = "orders_project.api.SessionAuthentication"
