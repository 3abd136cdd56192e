"""The bench's lowest floor: gunicorn with nothing behind it.

    gunicorn -c gunicorn.conf.py benchmarks.floor_wsgi:application

A WSGI function that answers every request with the body of `GET /healthz`, served with
the same `gunicorn.conf.py` and worker count as the app. Whatever it manages is what
gunicorn, the kernel and wrk alone leave of these cores: no Python web app of any kind,
served this way, can answer faster.
"""

from collections.abc import Callable, Iterable
from typing import Any

BODY = b'{"status":"ok"}'
HEADERS = [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))]


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", HEADERS)
    return [BODY]
