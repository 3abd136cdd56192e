"""The errors a client can meet, each declaring its problem type in one place.

An error class says what DRF's own HTTP errors say (`status_code`, `default_code`,
`default_detail`) plus the RFC 9457 `title`; the problem+json body, the OpenAPI error
list and gunicorn's own refusals (wire_errors.py) are all read from these classes.
Each app declares its errors in its own `errors.py`. Free of Django and DRF imports:
gunicorn's error path loads this module too.
"""

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import ClassVar

PROBLEM_TYPE_BASE = "https://orders-api.example/problems/"
# code -> the class that declares it; filled as subclasses are declared.
PROBLEM_TYPES: dict[str, type["ProblemError"]] = {}


@dataclass(frozen=True)
class FieldError:
    """One invalid input field, named as the client spelt it."""

    field: str
    code: str
    message: str


class ProblemError(Exception):
    """An error a client sees as problem+json: its status, stable code, title and detail."""

    status_code: ClassVar[int]
    default_code: ClassVar[str]
    title: ClassVar[str]
    default_detail: ClassVar[str]
    # Headers every answer of this problem carries (Retry-After, WWW-Authenticate, Allow).
    headers: Mapping[str, str] = {}

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        # A code names one status and one title: a subclass may only refine the detail.
        declared = PROBLEM_TYPES.setdefault(cls.default_code, cls)
        if (declared.status_code, declared.title) != (cls.status_code, cls.title):
            raise TypeError(f"{cls.__name__} redeclares the problem {cls.default_code!r}")

    def __init__(
        self, detail: str | None = None, *, headers: Mapping[str, str] | None = None
    ) -> None:
        self.detail = detail or self.default_detail
        if headers:
            self.headers = {**self.headers, **headers}
        super().__init__(self.detail)

    @property
    def code(self) -> str:
        """The stable problem code clients see."""
        return self.default_code

    def body(self) -> dict[str, object]:
        """The RFC 9457 problem details of this error, as clients receive them."""
        return {
            "type": PROBLEM_TYPE_BASE + self.default_code.replace("_", "-"),
            "title": self.title,
            "status": self.status_code,
            "detail": self.detail,
            "code": self.default_code,
        }


class ValidationFailed(ProblemError):
    """Input that breaks a rule; carries one entry per offending field."""

    status_code = 400
    default_code = "validation_error"
    title = "Validation error"
    default_detail = "The request has invalid fields."

    def __init__(self, errors: list[FieldError], detail: str | None = None) -> None:
        self.errors = errors
        super().__init__(detail)

    def body(self) -> dict[str, object]:
        """The problem details, with one entry per invalid field."""
        return {**super().body(), "errors": [asdict(error) for error in self.errors]}


# Refusals of the HTTP layer: DRF's and Django's own errors, and gunicorn's parser.


class BadRequest(ProblemError):
    status_code = 400
    default_code = "bad_request"
    title = "Bad request"
    default_detail = "The request could not be understood."


class MalformedJson(ProblemError):
    status_code = 400
    default_code = "malformed_json"
    title = "Malformed JSON"
    default_detail = "The request body is not valid JSON."


class Unauthenticated(ProblemError):
    status_code = 401
    default_code = "unauthenticated"
    title = "Unauthenticated"
    default_detail = "A valid API key is required: send it as `Authorization: Bearer <key>`."
    headers = {"WWW-Authenticate": "Bearer"}


class Forbidden(ProblemError):
    status_code = 403
    default_code = "forbidden"
    title = "Forbidden"
    default_detail = "The request was refused."


class NotFound(ProblemError):
    status_code = 404
    default_code = "not_found"
    title = "Not found"
    default_detail = "Not found."


class MethodNotAllowed(ProblemError):
    status_code = 405
    default_code = "method_not_allowed"
    title = "Method not allowed"
    default_detail = "This method is not allowed here."


class NotAcceptable(ProblemError):
    status_code = 406
    default_code = "not_acceptable"
    title = "Not acceptable"
    default_detail = "No representation matches the Accept header."


class LengthRequired(ProblemError):
    status_code = 411
    default_code = "length_required"
    title = "Length required"
    default_detail = "Send the body with a Content-Length; chunked bodies are not read."


class PayloadTooLarge(ProblemError):
    status_code = 413
    default_code = "payload_too_large"
    title = "Payload too large"
    default_detail = "The request body is too large."


class RequestTimeout(ProblemError):
    status_code = 408
    default_code = "request_timeout"
    title = "Request timeout"
    default_detail = "The request was not received in time."


class UriTooLong(ProblemError):
    status_code = 414
    default_code = "uri_too_long"
    title = "URI too long"
    default_detail = "The request line is over the server's limit."


class UnsupportedMediaType(ProblemError):
    status_code = 415
    default_code = "unsupported_media_type"
    title = "Unsupported media type"
    default_detail = "The body's media type is not supported."


class ExpectationFailed(ProblemError):
    status_code = 417
    default_code = "expectation_failed"
    title = "Expectation failed"
    default_detail = "The Expect header cannot be met."


class HeaderFieldsTooLarge(ProblemError):
    status_code = 431
    default_code = "header_fields_too_large"
    title = "Request header fields too large"
    default_detail = "Too many or too large header fields."


class TooManyLoginFailures(ProblemError):
    status_code = 429
    default_code = "too_many_login_failures"
    title = "Too many login failures"
    default_detail = "Too many failed logins for this account from this address; retry later."


class RateLimited(ProblemError):
    status_code = 429
    default_code = "rate_limited"
    title = "Too many requests"
    default_detail = "Too many requests in flight for this client or tenant; retry shortly."
    headers = {"Retry-After": "1"}


class InternalError(ProblemError):
    status_code = 500
    default_code = "internal_error"
    title = "Internal server error"
    default_detail = "An unexpected error occurred."


class NotImplementedByServer(ProblemError):
    status_code = 501
    default_code = "not_implemented"
    title = "Not implemented"
    default_detail = "The server does not support what the request needs."


class ServiceUnavailable(ProblemError):
    status_code = 503
    default_code = "service_unavailable"
    title = "Service unavailable"
    default_detail = "The database is unavailable; retry shortly."
    headers = {"Retry-After": "1"}
