"""The bench's lowest floor: a WSGI function answering every request with the body of
`GET /healthz`, served like the app. What gunicorn, the kernel and wrk alone leave of these
cores: no Python web app served this way answers faster."""

from collections.abc import Callable, Iterable
from typing import Any

BODY = b'{"status":"ok"}'
HEADERS = [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))]


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", HEADERS)
    return [BODY]
