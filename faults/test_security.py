"""Findings of the security review that live on the wire, proved on real gunicorn:
metric labels a client cannot grow, /metrics for the operator only, chunked bodies
refused rather than ignored, and no metric folders left in /dev/shm."""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from faults.audit import snapshot
from faults.client import Client, Stats, exchange, new_key, split_answer
from faults.stack import METRICS_TOKEN, Database, Server, running_server

CLOSED_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "other"}
# Where gunicorn.conf.py puts the metric folders.
METRICS_PARENT = Path("/dev/shm" if os.path.isdir("/dev/shm") else "/tmp")  # noqa: S108


def scrape(port: int) -> list[tuple[str, dict[str, str], float]]:
    """Every sample of /metrics, fetched as the operator's Prometheus does."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        response = conn.getresponse()
        text = response.read().decode()
        assert response.status == 200, text[:300]
    finally:
        conn.close()
    return [
        (sample.name, sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def other_method_count(samples: list[tuple[str, dict[str, str], float]]) -> float:
    return sum(
        value
        for name, labels, value in samples
        if name == "orders_http_request_duration_seconds_count" and labels["method"] == "other"
    )


def test_made_up_methods_add_no_metric_labels(server: Server, stats: Stats) -> None:
    # given: 200 distinct methods gunicorn accepts (any 1-20 letter token)
    made_up = ["Q" + "".join("ABCDEFGHIJ"[int(d)] for d in f"{n:04d}") for n in range(200)]
    before = other_method_count(scrape(server.port))

    # when
    for method in made_up:
        stats.add("hostile_inputs")
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        try:
            conn.request(method, "/orders", headers={"X-Tenant-Id": "t"})
            conn.getresponse().read()
        finally:
            conn.close()
    samples = scrape(server.port)

    # then: every method label is from the closed set, and the 200 are counted as `other`
    methods = {labels["method"] for _, labels, _ in samples if "method" in labels}
    assert methods <= CLOSED_METHODS, methods - CLOSED_METHODS
    assert other_method_count(samples) - before == len(made_up)


@pytest.mark.parametrize("authorization", [None, "Bearer not-the-token"])
def test_metrics_are_refused_to_anonymous_callers(api: Client, authorization: str | None) -> None:
    # when
    headers: dict[str, str | bytes] = {"Authorization": authorization} if authorization else {}
    reply = api.request("GET", "/metrics", headers=headers)

    # then
    assert reply.status == 401, reply.describe()
    assert reply.is_problem()
    assert b"orders_http_request" not in reply.body


def chunked(request_head: bytes, body: bytes, chunk_size: int = 8192) -> bytes:
    """A request whose body is sent with Transfer-Encoding: chunked."""
    chunks = b"".join(
        b"%x\r\n%s\r\n" % (len(body[i : i + chunk_size]), body[i : i + chunk_size])
        for i in range(0, len(body), chunk_size)
    )
    return (
        request_head
        + b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        + chunks
        + (b"0\r\n\r\n")
    )


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("a confirm with a total", b'{"totalCents":5}'),
        ("a create with a broken body", b"["),
        ("a create of 200 KB", b'{"pad":"' + b"x" * 200_000 + b'"}'),
    ],
)
def test_chunked_bodies_are_refused_not_ignored(
    api: Client,
    tenant_name: Callable[[str], str],
    sql: psycopg.Connection,
    *,
    stats: Stats,
    name: str,
    body: bytes,
) -> None:
    # given: a draft order to confirm
    tenant = tenant_name("chunked")
    created = api.for_tenant(tenant).create(new_key())
    assert created.status == 201, created.describe()
    order_id = created.json["id"]
    path = f"/orders/{order_id}/confirm" if "confirm" in name else "/orders"
    method = b"PATCH" if "confirm" in name else b"POST"
    head = (
        b"%s %s HTTP/1.1\r\nHost: test\r\nX-Tenant-Id: %s\r\nIdempotency-Key: %s\r\n"
        b"If-Match: 1\r\nContent-Type: application/json\r\n"
        % (method, path.encode(), tenant.encode(), new_key().encode())
    )
    before = snapshot(sql)
    stats.add("hostile_inputs")

    # when
    status, response_head, response_body = split_answer(exchange(api.port, chunked(head, body)))

    # then: 411 problem+json, and nothing acted on
    assert status == 411, (name, response_head, response_body[:300])
    assert b"content-type: application/problem+json" in response_head.lower()
    assert b'"length_required"' in response_body
    assert snapshot(sql) == before
    order = api.for_tenant(tenant).get(order_id).json
    assert (order["status"], order["version"]) == ("draft", 1)


def test_gunicorn_leaves_no_metric_folder_behind(database: Database, workdir: Path) -> None:
    # given: the folder a master killed outright left behind, and one of a live process
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = METRICS_PARENT / f"orders-metrics-{dead.pid}"
    alive = METRICS_PARENT / f"orders-metrics-{os.getpid()}"
    for folder in (stale, alive):
        folder.mkdir()
        (folder / "counter_1.db").write_bytes(b"\0" * 16)

    try:
        # when: a gunicorn starts, serves, and stops
        with running_server(database.url, workdir, workers=2) as started:
            own = METRICS_PARENT / f"orders-metrics-{started.process.pid}"
            assert own.is_dir()
            assert list(own.iterdir()), "the workers write their metrics there"
            stale_gone_at_start = not stale.exists()

        # then: its own folder is removed on exit, the dead master's at start, and a
        # live process's folder is nobody's business but its own
        assert not own.exists()
        assert stale_gone_at_start
        assert alive.is_dir()
    finally:
        for folder in (stale, alive):
            subprocess.run(["rm", "-rf", str(folder)], check=True)
