"""Python CPU per request, in process: middleware, view, ORM and driver, no HTTP server.

    scripts/with-db .venv/bin/python benchmarks/inprocess.py [--requests 300]

Sends each operation through Django's test client (the whole middleware stack, DEBUG
off, the production settings) against DATABASE_URL, and reports this process's CPU time
per request (time.process_time, which the database server's work does not count in) and,
when PostgreSQL runs on this machine, the CPU its backend for this connection spent on
the same requests (one connection, one request at a time: no other client's work in it).
On a shared machine this moves far less than throughput does, so it is the figure the
before/after notes in docs/BENCHMARKS.md use for Python-side changes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orders_project.settings")
os.environ.setdefault("ACCESS_LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

import psutil  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

from benchmarks.cores import backend_process  # noqa: E402
from orders.services import order_confirm, order_create  # noqa: E402

TENANT = "inprocess-1"


def _backend() -> psutil.Process | None:
    """This process's PostgreSQL backend, if the server runs on this machine."""
    with connection.cursor() as cursor:
        return backend_process(cursor)


def _seconds(process: psutil.Process | None) -> float:
    if process is None:
        return 0.0
    times = process.cpu_times()
    return times.user + times.system


def measure(name: str, send: Callable[[int], Any], requests: int) -> dict[str, float]:
    """CPU microseconds per request: ours (median of 5 rounds), and the backend's over
    all of them (the kernel counts it in 10 ms ticks, too coarse for one round)."""
    for i in range(min(50, requests)):  # warm up, on items the rounds do not use
        send(5 * requests + i)
    backend = _backend()  # after the warm-up: the connection the requests use
    backend_started = _seconds(backend)
    rounds = []
    for round_index in range(5):
        started = time.process_time()
        for i in range(requests):
            send(round_index * requests + i)
        rounds.append((time.process_time() - started) / requests * 1e6)
    backend_us = (_seconds(backend) - backend_started) / (5 * requests) * 1e6
    if _backend() != backend:
        raise SystemExit(f"inprocess: {name}: the database connection changed mid-measurement")
    value = {"python_us": statistics.median(rounds), "postgres_us": backend_us}
    print(
        f"{name:18} {value['python_us']:7.0f} µs CPU/request here,"
        f" {value['postgres_us']:5.0f} µs in PostgreSQL"
    )
    return value


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--out", default="")
    args = parser.parse_args(argv)
    n = args.requests
    client = Client(headers={"X-Tenant-Id": TENANT})
    json_body = "application/json"
    order = order_create(tenant_id=TENANT)
    for _ in range(25):
        order_create(tenant_id=TENANT)
    writes = 6 * n + 100
    drafts = [order_create(tenant_id=TENANT).pk for _ in range(2 * writes)]
    confirmed = drafts[writes:]
    for order_id in confirmed:
        order_confirm(tenant_id=TENANT, order_id=order_id, total_cents=1, expected_version=1)
    replay_key = uuid.uuid4().hex
    client.post("/orders", "{}", content_type=json_body, headers={"Idempotency-Key": replay_key})
    results = {
        "create": measure(
            "create",
            lambda i: client.post(
                "/orders", "{}", content_type=json_body,
                headers={"Idempotency-Key": uuid.uuid4().hex},
            ),
            n,
        ),
        "replay": measure(
            "replay",
            lambda i: client.post(
                "/orders", "{}", content_type=json_body, headers={"Idempotency-Key": replay_key}
            ),
            n,
        ),
        "get": measure("get", lambda i: client.get(f"/orders/{order.pk}"), n),
        "get_not_modified": measure(
            "get_not_modified",
            lambda i: client.get(f"/orders/{order.pk}", headers={"If-None-Match": '"1"'}),
            n,
        ),
        "confirm": measure(
            "confirm",
            lambda i: client.patch(
                f"/orders/{drafts[i]}/confirm", '{"totalCents": 5}', content_type=json_body,
                headers={"If-Match": "1", "Idempotency-Key": uuid.uuid4().hex},
            ),
            n,
        ),
        "close": measure(
            "close",
            lambda i: client.post(
                f"/orders/{confirmed[i]}/close",
                headers={"If-Match": "2", "Idempotency-Key": uuid.uuid4().hex},
            ),
            n,
        ),
        "list_first": measure("list_first", lambda i: client.get("/orders?limit=20"), n),
    }  # fmt: skip
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
