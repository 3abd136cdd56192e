"""The api container's health check: GET /healthz from gunicorn, wherever it listens.

The address is gunicorn.conf.py's own `bind` (GUNICORN_BIND, else HOST:PORT), so the
check follows PORT or a unix socket instead of assuming port 8000. Exit 0 when healthy.
"""

import http.client
import runpy
import socket
import sys
from pathlib import Path

TIMEOUT_S = 3.0


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over a unix socket (gunicorn behind the proxy)."""

    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=TIMEOUT_S)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(TIMEOUT_S)
        self.sock.connect(self.path)


def connection(bind: str) -> http.client.HTTPConnection:
    if bind.startswith("unix:"):
        return UnixHTTPConnection(bind.removeprefix("unix:"))
    host, _, port = bind.rpartition(":")
    if host in ("", "0.0.0.0", "[::]"):  # listening everywhere: ask on loopback  # noqa: S104
        host = "127.0.0.1"
    return http.client.HTTPConnection(host, int(port), timeout=TIMEOUT_S)


def main() -> int:
    config = runpy.run_path(str(Path(__file__).resolve().parents[2] / "gunicorn.conf.py"))
    conn = connection(config["bind"][0])
    try:
        conn.request("GET", "/healthz")
        status = conn.getresponse().status
    except OSError as exc:
        print(f"healthcheck: {exc}", file=sys.stderr)
        return 1
    finally:
        conn.close()
    return 0 if status == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
