"""Write HAProxy's error files (deploy/haproxy/errors/*.http) from the app's problem types.

HAProxy answers some requests itself (a client too slow, a client or tenant over its share,
the app away or saturated, a tenant header naming no one tenant); each `errorfile` is the
complete HTTP response it sends then. They are rendered from the app's problem types
(orders_project/errors.py, tenancy/errors.py), so the proxy's problem+json bodies are the app's.

    python deploy/haproxy/render_errors.py           # (re)write the files
    python deploy/haproxy/render_errors.py --check   # exit 1 if a file is out of date

The files are committed because the compose `proxy` service (HAProxy's official image,
no Python) mounts them as they are.
"""

from __future__ import annotations

import argparse
import json
import sys
from http import HTTPStatus
from pathlib import Path

ERRORS_DIR = Path(__file__).resolve().parent / "errors"
sys.path.insert(0, str(ERRORS_DIR.parent.parent.parent))  # the checkout, for orders_project

from orders_project.errors import (  # noqa: E402 (after the path is set)
    BadRequest,
    Forbidden,
    InternalError,
    MethodNotAllowed,
    NotFound,
    NotImplementedByServer,
    PayloadTooLarge,
    ProblemError,
    RateLimited,
    RequestTimeout,
    ServiceUnavailable,
)
from tenancy.errors import InvalidTenant  # noqa: E402

APP_AWAY = "The service is restarting or overloaded; retry shortly."

# Every status HAProxy may answer by itself, with the problem it means and its detail.
PROXY_PROBLEMS: dict[int, ProblemError] = {
    400: BadRequest("The request is not valid HTTP."),
    403: Forbidden(),
    404: NotFound(),
    405: MethodNotAllowed(),
    408: RequestTimeout("The request body was not received in time."),
    413: PayloadTooLarge(),
    429: RateLimited(),
    500: InternalError(),
    501: NotImplementedByServer(),
    # 502 and 504 are the contract's service_unavailable too, under their own status.
    502: ServiceUnavailable(APP_AWAY),
    503: ServiceUnavailable(APP_AWAY),
    504: ServiceUnavailable("The service did not answer in time; retry shortly."),
}


# Refusals of the proxy's own rules, each in a file named by its code
# (`http-request deny ... errorfile`).
PROXY_RULE_PROBLEMS: list[ProblemError] = [
    InvalidTenant("Send X-Tenant-Id once, naming one tenant: a list is not a tenant id."),
]


def render(status: int, problem: ProblemError) -> bytes:
    """The whole HTTP/1.1 response HAProxy sends for `status`."""
    body = json.dumps({**problem.body(), "status": status}).encode()
    headers = {
        "Content-Type": "application/problem+json",
        "Content-Length": str(len(body)),
        "Cache-Control": "no-store",
        **problem.headers,
    }
    if status in (400, 408, 413):
        headers["Connection"] = "close"  # the rest of the request is not read
    head = f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return (head + "\r\n").encode("latin-1") + body


def expected_files() -> dict[Path, bytes]:
    by_status = {
        ERRORS_DIR / f"{status}.http": render(status, problem)
        for status, problem in PROXY_PROBLEMS.items()
    }
    by_code = {
        ERRORS_DIR / f"{problem.code}.http": render(problem.status_code, problem)
        for problem in PROXY_RULE_PROBLEMS
    }
    return by_status | by_code


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale files")
    args = parser.parse_args()
    stale = [
        path
        for path, content in expected_files().items()
        if not path.exists() or path.read_bytes() != content
    ]
    if args.check:
        for path in stale:
            print(f"{path} is out of date: run python {Path(__file__).name}", file=sys.stderr)
        return 1 if stale else 0
    ERRORS_DIR.mkdir(exist_ok=True)
    for path, content in expected_files().items():
        path.write_bytes(content)
    return 0


if __name__ == "__main__":
    sys.exit(main())
