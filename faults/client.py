"""A small HTTP client for the suite: one connection per request, nothing hidden.

http.client rather than a session library: the suite must see exactly what went over the
wire (bytes, header case, a connection cut by a killed worker) and never retry by itself.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

PROBLEM = "application/problem+json"
REQUEST_TIMEOUT_S = 30.0
LOOPBACK = "127.0.0.1"  # where every server of the suite listens, and clients connect from


@dataclass(frozen=True)
class Reply:
    """One HTTP response; `status` 0 means none arrived (connection cut or refused)."""

    status: int
    headers: dict[str, str]
    body: bytes
    error: str = ""

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip()

    def is_problem(self) -> bool:
        """An RFC 9457 body whose `status` and `code` agree with the response."""
        if self.content_type != PROBLEM:
            return False
        try:
            body = self.json
        except ValueError:
            return False
        return (
            isinstance(body, dict)
            and body.get("status") == self.status
            and isinstance(body.get("code"), str)
            and {"type", "title", "detail"} <= body.keys()
        )

    def describe(self) -> str:
        return f"{self.status} {self.error or self.body[:300]!r}"


class Stats:
    """Counts what the suite did, across threads; written to the run's JSON report."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.figures: dict[str, float] = {}

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.counts[name] += n

    def record(self, name: str, value: float) -> None:
        """A measured figure (a latency, a rate) for the run's report."""
        with self._lock:
            self.figures[name] = value


class Client:
    """Talks to one server as one tenant (or none), from one loopback address, counting
    every request; `credentials` are headers sent with each (an API key)."""

    def __init__(
        self,
        port: int,
        stats: Stats,
        tenant: str | None = None,
        *,
        source: str = LOOPBACK,
        credentials: dict[str, str] | None = None,
    ) -> None:
        self.port = port
        self.stats = stats
        self.tenant = tenant
        self.source = source
        self.credentials = credentials or {}

    def for_tenant(self, tenant: str | None) -> Client:
        return Client(
            self.port, self.stats, tenant, source=self.source, credentials=self.credentials
        )

    def from_address(self, source: str) -> Client:
        """The same client connecting from another loopback address (another client)."""
        return Client(
            self.port, self.stats, self.tenant, source=source, credentials=self.credentials
        )

    def with_api_key(self, key: str) -> Client:
        return Client(
            self.port,
            self.stats,
            self.tenant,
            source=self.source,
            credentials={"Authorization": f"Bearer {key}"},
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str | bytes] | None = None,
        body: bytes | str | dict[str, Any] | None = None,
        timeout: float = REQUEST_TIMEOUT_S,
    ) -> Reply:
        """Send one request; a transport failure is a Reply with status 0, not an error."""
        all_headers: dict[str, str | bytes] = {**self.credentials}
        if self.tenant is not None:
            all_headers["X-Tenant-Id"] = self.tenant
        if isinstance(body, dict):
            body = json.dumps(body)
            all_headers["Content-Type"] = "application/json"
        if isinstance(body, str):
            body = body.encode()
        all_headers.update(headers or {})
        self.stats.add("requests_sent")
        conn = ConnectionFrom(self.source, self.port, timeout=timeout)
        try:
            conn.putrequest(method, path, skip_accept_encoding=True)
            for name, value in all_headers.items():
                conn.putheader(name, value)
            if body is not None:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            response = conn.getresponse()
            data = response.read()
            reply_headers = {k.lower(): v for k, v in response.getheaders()}
            return Reply(response.status, reply_headers, data)
        except (OSError, http.client.HTTPException) as exc:
            self.stats.add("transport_errors")
            return Reply(0, {}, b"", error=f"{type(exc).__name__}: {exc}")
        finally:
            conn.close()

    # The API's operations, as a well-behaved client sends them.
    def create(self, key: str, body: bytes | str | dict[str, Any] | None = None) -> Reply:
        return self.request(
            "POST", "/orders", headers={"Idempotency-Key": key}, body=body if body else {}
        )

    def get(self, order_id: str, **headers: str) -> Reply:
        return self.request("GET", f"/orders/{order_id}", headers=dict(headers))

    def confirm(
        self, order_id: str, version: str, total_cents: int, key: str | None = None
    ) -> Reply:
        headers: dict[str, str | bytes] = {"If-Match": version}
        if key:
            headers["Idempotency-Key"] = key
        return self.request(
            "PATCH",
            f"/orders/{order_id}/confirm",
            headers=headers,
            body={"totalCents": total_cents},
        )

    def close(self, order_id: str, version: str | None = None, key: str | None = None) -> Reply:
        headers: dict[str, str | bytes] = {}
        if version:
            headers["If-Match"] = version
        if key:
            headers["Idempotency-Key"] = key
        return self.request("POST", f"/orders/{order_id}/close", headers=headers)

    def list(self, query: str = "") -> Reply:
        return self.request("GET", f"/orders{'?' + query if query else ''}")


def new_key() -> str:
    return uuid.uuid4().hex


def connect_from(
    source: str, port: int, *, timeout: float | None, receive_buffer: int | None = None
) -> socket.socket:
    """A TCP connection from the loopback address `source` to the server on `port`.

    The local port is chosen at connect time (IP_BIND_ADDRESS_NO_PORT), as for any
    client socket: bound first, every connection would need a port no other socket on
    that address holds, TIME_WAIT ones included, and a busy client soon runs out.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        if receive_buffer:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_BIND_ADDRESS_NO_PORT, 1)
        sock.bind((source, 0))
        sock.connect((LOOPBACK, port))
    except BaseException:
        sock.close()
        raise
    return sock


class ConnectionFrom(http.client.HTTPConnection):
    """An HTTPConnection to the loopback server on `port`, from the address `source`."""

    def __init__(self, source: str, port: int, *, timeout: float) -> None:
        super().__init__(LOOPBACK, port, timeout=timeout)
        self.source = source

    def connect(self) -> None:
        self.sock = connect_from(self.source, self.port, timeout=self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def client_address(group: int, index: int) -> str:
    """A loopback address of its own for client `index` of a group: the server sees each
    as another client (127.0.0.0/8 is all loopback on Linux)."""
    return f"127.0.{group}.{index % 250 + 1}"


def exchange(port: int, data: bytes, *, timeout: float = 30, source: str = LOOPBACK) -> bytes:
    """Send raw `data` on a new connection; everything received until the server closes it."""
    with connect_from(source, port, timeout=timeout) as sock:
        with contextlib.suppress(OSError):  # the server may close while we still send
            sock.sendall(data)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def split_answer(answer: bytes) -> tuple[int, bytes, bytes]:
    """The status, head and body of a raw HTTP answer."""
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), head, body
