"""problem+json for the requests gunicorn's HTTP parser refuses before Django sees them.

A request line or header that is malformed or over gunicorn's limits (see
gunicorn.conf.py) never reaches the app, so gunicorn answers it itself, by default with
an HTML page. `install()` (called in every worker, from gunicorn.conf.py) makes those
answers RFC 9457 bodies with a stable `code`, like every other error of this service.
Deliberately free of Django imports: it runs inside gunicorn's own error path.
"""

import json
from typing import Any

from orders_project.errors import (
    BadRequest,
    ExpectationFailed,
    Forbidden,
    HeaderFieldsTooLarge,
    InternalError,
    NotImplementedByServer,
    ProblemError,
    UriTooLong,
)

# The statuses gunicorn answers with, each to the error class that declares it.
WIRE_PROBLEMS: dict[int, type[ProblemError]] = {
    problem.status_code: problem
    for problem in (
        BadRequest,
        Forbidden,
        UriTooLong,
        ExpectationFailed,
        HeaderFieldsTooLarge,
        InternalError,
        NotImplementedByServer,
    )
}
_DETAIL_MAX = 200


def problem_bytes(status: int, reason: str, detail: str) -> bytes:
    """The complete HTTP/1.1 response (connection closed) for a refused request."""
    problem = WIRE_PROBLEMS.get(status) or (BadRequest if status < 500 else InternalError)
    body = json.dumps({**problem(detail[:_DETAIL_MAX]).body(), "status": status}).encode()
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

    # gunicorn has no hook or setting for the body of its own refusals: replace its writer.
    util.write_error = write_error
