"""DRF wiring: the one exception handler that turns every error into problem+json."""

import codecs
import io
import logging
from collections.abc import Mapping
from typing import IO, Any

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.authentication import SessionScheme
from rest_framework import authentication, exceptions, negotiation, parsers

from orders_project.errors import (
    BadRequest,
    FieldError,
    Forbidden,
    InternalError,
    MalformedJson,
    MethodNotAllowed,
    NotAcceptable,
    NotFound,
    PayloadTooLarge,
    ProblemError,
    ServiceUnavailable,
    UnsupportedMediaType,
    ValidationFailed,
)
from orders_project.json_body import read_json
from orders_project.problems import as_problem, problem_response

logger = logging.getLogger(__name__)

# DRF's own exceptions, by class, to ours; the detail DRF wrote is kept.
_DRF_PROBLEMS: list[tuple[type[exceptions.APIException], type[ProblemError]]] = [
    (exceptions.ParseError, MalformedJson),
    (exceptions.UnsupportedMediaType, UnsupportedMediaType),
    (exceptions.MethodNotAllowed, MethodNotAllowed),
    (exceptions.NotAcceptable, NotAcceptable),
    (exceptions.NotFound, NotFound),
    (exceptions.PermissionDenied, Forbidden),
    (exceptions.NotAuthenticated, Forbidden),
    (exceptions.AuthenticationFailed, Forbidden),
]


def exception_handler(exc: Exception, context: Mapping[str, Any]) -> HttpResponse:
    """DRF's EXCEPTION_HANDLER, which the middlewares hand their errors to as well.

    Answers problem+json for any error; logs those that were not foreseen.
    """
    problem = _drf_problem(exc) if isinstance(exc, exceptions.APIException) else as_problem(exc)
    if isinstance(problem, InternalError) and problem is not exc:
        logger.exception("unhandled error", exc_info=exc)
    elif isinstance(problem, ServiceUnavailable) and problem is not exc:
        logger.warning("database unavailable: %s", exc)
    return problem_response(problem)


def _drf_problem(exc: exceptions.APIException) -> ProblemError:
    if isinstance(exc, exceptions.ValidationError):
        return ValidationFailed(field_errors(exc.detail))
    for drf_class, problem in _DRF_PROBLEMS:
        if isinstance(exc, drf_class):
            return problem(str(exc.detail))
    return BadRequest(str(exc.detail))


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


def _other_charset(parser_context: Mapping[str, Any] | None) -> str | None:
    # The charset the request's Content-Type names (Django's content_params), unless
    # it is UTF-8 under any of its names.
    request = (parser_context or {}).get("request")
    charset: str | None = getattr(request, "content_params", {}).get("charset")
    if charset is None:
        return None
    try:
        return None if codecs.lookup(charset).name == "utf-8" else charset
    except LookupError:
        return charset


def _refuse_other_charset(media_type: str | None, parser_context: Any) -> None:
    # RFC 8259 §8.1: JSON exchanged between systems is UTF-8. Forms too are read as
    # UTF-8 only, so that a body has one reading whatever its Content-Type says.
    charset = _other_charset(parser_context)
    if charset is not None:
        raise exceptions.UnsupportedMediaType(
            media_type or "", detail=f"Bodies are UTF-8; this one declares charset={charset}."
        )


class JSONBodyParser(parsers.JSONParser):
    """JSON bodies, read one way (`read_json`) within the size limit; another charset is 415."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        _refuse_other_charset(media_type, parser_context)
        data = _read_bounded(stream)
        try:
            return read_json(data)
        except UnicodeDecodeError:
            raise exceptions.ParseError("JSON parse error - body is not UTF-8.") from None
        except ValueError as error:
            raise exceptions.ParseError(f"JSON parse error - {error}") from None
        except RecursionError:
            raise exceptions.ParseError("JSON parse error - nested too deeply.") from None


class FormOrJSONParser(parsers.FormParser):
    """Form bodies, except a body that is JSON: `curl -d '{}'` sends JSON as a form."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        _refuse_other_charset(media_type, parser_context)
        data = _read_bounded(stream)
        if data.lstrip()[:1] in (b"{", b"["):
            return JSONBodyParser().parse(io.BytesIO(data), media_type, parser_context)
        return super().parse(io.BytesIO(data), media_type, parser_context)


class SessionAuthentication(authentication.SessionAuthentication):
    """DRF's, for browsers: a request without a session cookie has no session to check.

    Programs never send one, and for them DRF's own class would still build the lazy
    user and look up an empty session on every call, to find the anonymous user
    (measured: docs/DECISIONS.md).
    """

    def authenticate(self, request: Any) -> Any:
        if settings.SESSION_COOKIE_NAME not in request.COOKIES:
            return None
        return super().authenticate(request)


class SessionCookieScheme(SessionScheme):
    """The OpenAPI security scheme of the class above: DRF's own `cookieAuth`."""

    target_class = "orders_project.api.SessionAuthentication"


class ContentNegotiation(negotiation.DefaultContentNegotiation):
    """DRF's negotiation, with the answer to programs that take JSON given first.

    Nearly every call sends `Accept: */*`, `application/json` or none, and gets the
    first renderer (JSON); DRF would parse and rank the header each time to find that
    (measured: docs/DECISIONS.md). Anything else (a browser's HTML, `?format=`, a format
    suffix) is negotiated by DRF.
    """

    _JSON_ACCEPTS = frozenset({None, "*/*", "application/json"})

    def select_renderer(
        self, request: Any, renderers: Any, format_suffix: str | None = None
    ) -> Any:
        first = renderers[0]
        if (
            format_suffix is None
            and first.media_type == "application/json"
            and request.META.get("HTTP_ACCEPT") in self._JSON_ACCEPTS
            and self.settings.URL_FORMAT_OVERRIDE not in request.query_params
        ):
            return first, first.media_type
        return super().select_renderer(request, renderers, format_suffix)
