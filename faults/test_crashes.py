"""Crashes under load: a gunicorn worker SIGKILLed, PostgreSQL stopped and restarted.

Either way no half-written order may remain, every write a client was told about must be
in the database, and a client that retries with the same Idempotency-Key gets exactly
one order.
"""

from __future__ import annotations

import random
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import psutil
import psycopg
import pytest

from faults.audit import orders_of, orders_per_tenant
from faults.client import Client, Reply, Stats, new_key
from faults.stack import Database, Server, wait_ready

CLIENT_THREADS = 12
RETRY_DEADLINE_S = 60
MIN_KILLS = 6  # workers SIGKILLed over the storms of the worker-kill test


@dataclass
class Attempts:
    """Every reply each key got, in order; the key's tenant is its own."""

    replies: dict[str, list[Reply]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, key: str, reply: Reply) -> None:
        with self.lock:
            self.replies.setdefault(key, []).append(reply)


def retry_until_created(client: Client, key: str, attempts: Attempts) -> Reply:
    """What a careful client does: retry with the same key until a 201 (bounded)."""
    deadline = time.monotonic() + RETRY_DEADLINE_S
    while True:
        reply = client.create(key)
        attempts.record(key, reply)
        if reply.status == 201 or time.monotonic() > deadline:
            return reply
        assert reply.status in (0, 409, 503), f"unexpected answer to a retry: {reply.describe()}"
        time.sleep(0.05)


def audit_one_order_per_key(
    api: Client, sql: psycopg.Connection, tenants: dict[str, str], attempts: Attempts
) -> None:
    """Each key's tenant holds exactly one order, and every 201 named that order."""
    for key, tenant in tenants.items():
        final = retry_until_created(api.for_tenant(tenant), key, attempts)
        assert final.status == 201, f"key {key} never succeeded: {final.describe()}"
    orders = orders_of(sql, tenants.values())
    per_tenant = orders_per_tenant(sql, tenants.values())
    for key, tenant in tenants.items():
        assert per_tenant[tenant] == 1, f"key {key} made {per_tenant[tenant]} orders"
        ids = {r.json["id"] for r in attempts.replies[key] if r.status == 201}
        assert len(ids) == 1, f"key {key} answered with several orders: {ids}"
        (order_id,) = ids
        assert orders[order_id][0] == tenant
        assert orders[order_id][1:] == ("draft", 1), "no half-written order"


def storm_with_kills(
    server: Server, api: Client, tenants: dict[str, str], attempts: Attempts
) -> int:
    """Send every key twice at once from CLIENT_THREADS threads while a killer SIGKILLs a
    random worker every 0.1-0.4 s (at most 6 times); returns the number of kills."""
    done = threading.Event()
    kills = 0

    def killer() -> None:
        nonlocal kills
        rng = random.Random()
        deadline = time.monotonic() + 30
        while not done.is_set() and kills < 6 and time.monotonic() < deadline:
            time.sleep(rng.uniform(0.1, 0.4))
            workers = server.workers()
            if workers:
                try:
                    rng.choice(workers).send_signal(signal.SIGKILL)
                    kills += 1
                except psutil.NoSuchProcess:
                    pass

    def send(key: str) -> None:
        attempts.record(key, api.for_tenant(tenants[key]).create(key))

    # Each key twice, so a crash also lands on requests another one waits behind.
    sends = [*tenants, *tenants]
    random.shuffle(sends)
    kill_thread = threading.Thread(target=killer)
    kill_thread.start()
    try:
        with ThreadPoolExecutor(max_workers=CLIENT_THREADS) as pool:
            list(pool.map(send, sends, timeout=300))
    finally:
        done.set()
        kill_thread.join(timeout=60)
    wait_ready(server)
    return kills


def test_killed_workers_leave_no_half_written_order(
    api: Client,
    server: Server,
    tenant_name: Callable[[str], str],
    sql: psycopg.Connection,
    stats: Stats,
) -> None:
    # given: rounds of 120 keys, each key in a tenant of its own
    tenants: dict[str, str] = {}
    attempts = Attempts()
    kills = cut = 0

    # when: workers are SIGKILLed at random while the storm runs; at least two rounds,
    # and more (up to twelve) until six workers died and a request was seen cut
    # mid-flight. A storm lasts as long as the server takes to answer it, so the faster
    # the server, the fewer kills fit in one round.
    for round_no in range(12):
        batch = {new_key(): tenant_name(f"k{round_no}-{n}") for n in range(120)}
        tenants.update(batch)
        kills += storm_with_kills(server, api, batch, attempts)
        cut = sum(r.status == 0 for replies in attempts.replies.values() for r in replies)
        if round_no >= 1 and cut and kills >= MIN_KILLS:
            break
    stats.add("faults_worker_sigkill", kills)
    stats.add("requests_cut_by_sigkill", cut)

    # then: some requests really were cut mid-flight, and nothing else went wrong
    assert kills >= MIN_KILLS
    assert cut >= 1, "no request was in flight when a worker died: the test proved nothing"
    for key, replies in attempts.replies.items():
        for reply in replies:
            assert reply.status in (0, 201, 409, 503), f"{key}: {reply.describe()}"
    # and: each key's retry succeeds, exactly once, and no acknowledged order is missing
    acknowledged = {
        r.json["id"] for rs in attempts.replies.values() for r in rs if r.status == 201
    }
    lost = acknowledged - set(orders_of(sql, tenants.values()))
    stats.add("writes_lost", len(lost))
    assert not lost, f"acknowledged but missing: {lost}"
    audit_one_order_per_key(api, sql, tenants, attempts)
    stats.add("writes_acknowledged", len(tenants))


@pytest.mark.parametrize("crash", [False, True], ids=["fast-shutdown", "crash"])
def test_database_restart_answers_503_and_recovers(
    *,
    crash: bool,
    api: Client,
    server: Server,
    database: Database,
    tenant_name: Callable[[str], str],
    stats: Stats,
) -> None:
    # given: clients creating orders in a steady stream
    workers_before = {worker.pid for worker in server.workers()}
    tenants: dict[str, str] = {}
    attempts = Attempts()
    stop = threading.Event()
    lock = threading.Lock()
    sequence = iter(range(1_000_000))

    def client_loop() -> None:
        deadline = time.monotonic() + 120
        while not stop.is_set() and time.monotonic() < deadline:
            with lock:
                n = next(sequence)
            key = new_key()
            tenants[key] = tenant_name(f"r{n}")
            reply = api.for_tenant(tenants[key]).create(key)
            attempts.record(key, reply)
            if reply.status != 201:
                time.sleep(0.05)

    pool = ThreadPoolExecutor(max_workers=6)
    futures = [pool.submit(client_loop) for _ in range(6)]
    try:
        time.sleep(1.5)

        # when: PostgreSQL stops under load (or crashes: no checkpoint, WAL replay)
        database.stop(crash=crash)
        stats.add("faults_database_crash" if crash else "faults_database_restart")
        try:
            time.sleep(0.5)
            down: list[Reply] = []
            for _ in range(5):
                down.append(api.request("GET", "/readyz"))
                down.append(api.for_tenant(tenant_name("down")).create(new_key()))
                down.append(api.for_tenant(tenant_name("down")).list())
                time.sleep(0.3)
        finally:
            database.start()

        # then: while it was down, every answer was 503 problem+json with Retry-After
        for reply in down:
            assert reply.status == 503, reply.describe()
            assert reply.is_problem(), reply.describe()
            assert reply.json["code"] == "service_unavailable"
            assert reply.headers.get("retry-after"), reply.describe()

        # and: the service recovers by itself, without restarting gunicorn or its workers
        wait_ready(server, timeout=30)
        time.sleep(1.5)
    finally:
        stop.set()
        for future in futures:
            future.result(timeout=180)
        pool.shutdown()
    assert {worker.pid for worker in server.workers()} == workers_before
    recovered = api.for_tenant(tenant_name("after")).create(new_key())
    assert recovered.status == 201, recovered.describe()

    # and: no client ever saw a 500, and the down time produced 503s
    seen = [reply for replies in attempts.replies.values() for reply in replies]
    assert not [r for r in seen if r.status >= 500 and r.status != 503], "a 5xx other than 503"
    assert any(r.status == 503 for r in seen), "the load never saw the database down"
    for reply in (r for r in seen if r.status == 503):
        assert reply.is_problem(), reply.describe()
        assert reply.headers.get("retry-after"), reply.describe()
    stats.add("answers_503_while_database_down", sum(r.status == 503 for r in seen) + len(down))

    # and: every acknowledged write is there, and retries make exactly one order per key
    acknowledged = {r.json["id"] for r in seen if r.status == 201}
    with database.connect() as sql:  # the fixture's connection died with the server
        lost = acknowledged - set(orders_of(sql, tenants.values()))
        stats.add("writes_lost", len(lost))
        assert not lost, f"acknowledged but missing: {lost}"
        audit_one_order_per_key(api, sql, tenants, attempts)
    stats.add("writes_acknowledged", len(tenants))
