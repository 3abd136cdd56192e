"""problem+json for the requests gunicorn's HTTP parser refuses before Django sees them.

A request line or header that is malformed or over gunicorn's limits (see
gunicorn.conf.py) never reaches the app, so gunicorn answers it itself, by default with
an HTML page. `install()` (called in every worker, from gunicorn.conf.py) makes those
answers RFC 9457 bodies with a stable `code`, like every other error of this service.
Deliberately free of Django imports: it runs inside gunicorn's own error path.
"""

import json
from typing import Any

PROBLEM_TYPE_BASE = "https://orders-api.example/problems/"

# HTTP status gunicorn answers with -> (code, title). Mirrored in problems.PROBLEM_TYPES.
WIRE_PROBLEMS: dict[int, tuple[str, str]] = {
    400: ("bad_request", "Bad request"),
    403: ("forbidden", "Forbidden"),
    414: ("uri_too_long", "URI too long"),
    417: ("expectation_failed", "Expectation failed"),
    431: ("header_fields_too_large", "Request header fields too large"),
    500: ("internal_error", "Internal server error"),
    501: ("not_implemented", "Not implemented"),
}
_DETAIL_MAX = 200


def problem_type_uri(code: str) -> str:
    """The `type` URI that identifies a problem code (problems.py uses this one too)."""
    return PROBLEM_TYPE_BASE + code.replace("_", "-")


def problem_bytes(status: int, reason: str, detail: str) -> bytes:
    """The complete HTTP/1.1 response (connection closed) for a refused request."""
    code, title = WIRE_PROBLEMS.get(status, WIRE_PROBLEMS[400 if status < 500 else 500])
    body = json.dumps(
        {
            "type": problem_type_uri(code),
            "title": title,
            "status": status,
            "detail": detail[:_DETAIL_MAX],
            "code": code,
        }
    ).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/problem+json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


def install() -> None:
    """Make gunicorn's own error responses problem+json (its one writer of them)."""
    from gunicorn import util  # noqa: PLC0415 (only ever called inside gunicorn)

    def write_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
        util.write_nonblock(sock, problem_bytes(status_int, reason, mesg))

    util.write_error = write_error
