"""The limits that protect the service, exercised on the live stack.

HTTP parser limits (gunicorn.conf.py), body size and page size (settings), and the
database guards: a statement that runs too long is cut off by statement_timeout and a
request that waits too long for a row lock by lock_timeout; both answer 503
problem+json and leave nothing behind. Persistent connections stay bounded.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from faults.audit import snapshot
from faults.client import Client, Reply, Stats, exchange, new_key, split_answer
from faults.stack import Database, Server, running_server


def raw_request(port: int, data: bytes) -> tuple[int, bytes]:
    """Send raw bytes; the status and body of the problem+json answer."""
    status, head, body = split_answer(exchange(port, data))
    assert b"content-type: application/problem+json" in head.lower(), head
    return status, body


@pytest.mark.parametrize(
    ("name", "request_bytes", "status"),
    [
        (
            "request line over 4094 bytes",
            b"GET /orders?x=" + b"a" * 5000 + b" HTTP/1.1\r\n\r\n",
            414,
        ),
        (
            "more than 50 header fields",
            b"GET /orders HTTP/1.1\r\n"
            + b"".join(b"X-F%d: 1\r\n" % i for i in range(60))
            + b"\r\n",
            431,
        ),
        (
            "a header field over 8190 bytes",
            b"GET /orders HTTP/1.1\r\nX-Tenant-Id: " + b"a" * 9000 + b"\r\n\r\n",
            431,
        ),
        ("a malformed request line", b"GET\x00/orders HTTP/1.1\r\n\r\n", 400),
        ("an invalid header name", b"GET /orders HTTP/1.1\r\nX Tenant: a\r\n\r\n", 400),
    ],
)
def test_http_parser_limits_answer_problem_json(
    server: Server, stats: Stats, name: str, request_bytes: bytes, status: int
) -> None:
    stats.add("limit_probes")
    answered, _ = raw_request(server.port, request_bytes)
    assert answered == status, name


def test_a_huge_declared_body_is_refused_unread(
    api: Client, tenant_name: Callable[[str], str], sql: psycopg.Connection, stats: Stats
) -> None:
    # given: a client that announces 1 GB and sends nothing
    stats.add("limit_probes")
    before = snapshot(sql)
    client = api.for_tenant(tenant_name("huge"))

    # when
    started = time.monotonic()
    reply = client.request(
        "POST", "/orders",
        headers={"Idempotency-Key": new_key(), "Content-Type": "application/json",
                 "Content-Length": str(10**9)},
        timeout=10,
    )  # fmt: skip

    # then: 413 at once, without waiting for (or buffering) the body
    assert reply.status == 413, reply.describe()
    assert reply.is_problem()
    assert reply.json["code"] == "payload_too_large"
    assert time.monotonic() - started < 5
    assert snapshot(sql) == before


def test_page_size_is_capped(api: Client, tenant_name: Callable[[str], str], stats: Stats) -> None:
    client = api.for_tenant(tenant_name("pages"))
    stats.add("limit_probes", 4)
    assert client.list("limit=100").status == 200
    for limit in ("101", "0", "100000000000000000000"):
        reply = client.list(f"limit={limit}")
        assert reply.status == 400, reply.describe()
        assert reply.json["code"] == "validation_error"


@pytest.fixture(scope="module")
def strict_server(database: Database, workdir: Path) -> Iterator[Server]:
    """A second gunicorn on the same database with a tiny statement_timeout."""
    with running_server(
        database.url, workdir, workers=2, DB_STATEMENT_TIMEOUT="500ms", DB_LOCK_TIMEOUT="30s"
    ) as started:
        yield started


@pytest.fixture
def locked_order(
    api: Client, tenant_name: Callable[[str], str], database: Database
) -> Iterator[tuple[str, str]]:
    """A draft order whose row another session holds locked, until the test ends."""
    tenant = tenant_name("locked")
    created = api.for_tenant(tenant).create(new_key())
    assert created.status == 201, created.describe()
    order_id = created.json["id"]
    with psycopg.connect(database.url) as holder:
        holder.execute("SELECT 1 FROM orders WHERE id = %s FOR UPDATE", [order_id])
        yield tenant, order_id
        holder.rollback()


def _assert_503(reply: Reply) -> None:
    assert reply.status == 503, reply.describe()
    assert reply.is_problem(), reply.describe()
    assert reply.json["code"] == "service_unavailable"
    assert reply.headers.get("retry-after")


def test_a_statement_over_statement_timeout_is_cut_off(
    strict_server: Server,
    locked_order: tuple[str, str],
    sql: psycopg.Connection,
    stats: Stats,
) -> None:
    # given: a confirm that will wait on the held row lock (lock_timeout is 30 s here)
    tenant, order_id = locked_order
    client = Client(strict_server.port, stats, tenant)

    # when
    started = time.monotonic()
    reply = client.confirm(order_id, "1", 500, key=new_key())

    # then: cut at statement_timeout (500 ms), answered 503, nothing written
    elapsed = time.monotonic() - started
    _assert_503(reply)
    assert elapsed < 5, f"took {elapsed:.1f}s"
    stats.add("faults_statement_timeout")
    row = sql.execute("SELECT status, version FROM orders WHERE id = %s", [order_id]).fetchone()
    assert row == ("draft", 1)


def test_a_wait_over_lock_timeout_is_answered_503(
    server: Server, locked_order: tuple[str, str], sql: psycopg.Connection, stats: Stats
) -> None:
    # given: the main server's lock_timeout (DB_LOCK_TIMEOUT, 5 s by default)
    tenant, order_id = locked_order
    client = Client(server.port, stats, tenant)

    # when
    started = time.monotonic()
    reply = client.close(order_id)

    # then
    elapsed = time.monotonic() - started
    _assert_503(reply)
    assert 4 < elapsed < 15, f"took {elapsed:.1f}s"
    stats.add("faults_lock_timeout")
    row = sql.execute("SELECT status, version FROM orders WHERE id = %s", [order_id]).fetchone()
    assert row == ("draft", 1)


def test_persistent_connections_stay_bounded(
    api: Client, server: Server, tenant_name: Callable[[str], str], sql: psycopg.Connection
) -> None:
    # given: a burst of requests on every worker
    client = api.for_tenant(tenant_name("conns"))
    for _ in range(40):
        assert client.list().status == 200

    # then: each worker keeps at most one connection (CONN_MAX_AGE), never one per request
    rows = sql.execute(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid() "
        "AND backend_type = 'client backend'"
    ).fetchone()
    assert rows is not None
    workers = len(server.workers())
    assert rows[0] <= workers + 4, f"{rows[0]} connections for {workers} workers"
