"""Many clients at once, across gunicorn workers: one winner, never a double write."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import psycopg

from faults.audit import keys_per_tenant, orders_of, orders_per_tenant, outbox_events_per_order
from faults.client import Client, Reply, new_key

KEYS = 12
SENDERS_PER_KEY = 16
ORDERS_RACED = 6
RACERS = 12


def storm(calls: Sequence[Callable[[], Reply]]) -> list[Reply]:
    """Run every call at once (a barrier), on as many threads, and return the replies."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], Reply]) -> Reply:
        barrier.wait(timeout=30)
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls, timeout=120))


def assert_problem(reply: Reply, status: int, code: str) -> None:
    assert reply.status == status, reply.describe()
    assert reply.is_problem(), reply.describe()
    assert reply.json["code"] == code, reply.describe()


def test_identical_creates_make_one_order_per_key(
    api: Client, tenant_name: Callable[[str], str], sql: psycopg.Connection
) -> None:
    # given: KEYS keys, each sent SENDERS_PER_KEY times at once, in one tenant
    tenant = tenant_name("storm")
    client = api.for_tenant(tenant)
    keys = [new_key() for _ in range(KEYS)]
    calls = [
        partial(client.create, key, {"note": "same body"})
        for key in keys
        for _ in range(SENDERS_PER_KEY)
    ]
    random.shuffle(calls)

    # when
    replies = storm(calls)

    # then: per key, one executed 201 and the rest replays of it, or 409 in-use
    by_body: dict[bytes, list[Reply]] = {}
    for reply in replies:
        if reply.status == 201:
            by_body.setdefault(reply.body, []).append(reply)
        else:
            assert_problem(reply, 409, "idempotency_key_in_use")
            assert reply.headers.get("retry-after") == "1"
    assert len(by_body) == KEYS, "each key must answer with exactly one order, byte for byte"
    for same in by_body.values():
        fresh = [r for r in same if r.headers.get("idempotent-replayed") != "true"]
        assert len(fresh) == 1, "exactly one request per key is executed"
    # and: the database has exactly one order and one key row per key
    created = {reply.json["id"] for reply in (same[0] for same in by_body.values())}
    assert set(orders_of(sql, [tenant])) == created
    assert orders_per_tenant(sql, [tenant])[tenant] == KEYS
    assert keys_per_tenant(sql, [tenant])[tenant] == KEYS


def _race_one_order(client: Client) -> dict[str, Any]:
    created = client.create(new_key())
    assert created.status == 201, created.describe()
    order_id = created.json["id"]

    # confirm: every racer names version 1; exactly one can win
    confirms = storm(
        [partial(client.confirm, order_id, '"1"', 100 + n, key=new_key()) for n in range(RACERS)]
    )
    winners = [r for r in confirms if r.status == 200]
    assert len(winners) == 1, [r.describe() for r in confirms]
    for loser in (r for r in confirms if r.status != 200):
        assert_problem(loser, 412, "stale_version")

    # close: half name version 2, half no version; exactly one can win
    closes = storm(
        [partial(client.close, order_id, version='"2"' if n % 2 else None) for n in range(RACERS)]
    )
    closed = [r for r in closes if r.status == 200]
    assert len(closed) == 1, [r.describe() for r in closes]
    for loser in (r for r in closes if r.status != 200):
        expected = (
            ("stale_version", 412) if loser.status == 412 else ("invalid_state_transition", 409)
        )
        assert_problem(loser, expected[1], expected[0])
    return {"id": order_id, "total": winners[0].json["totalCents"], "closed": closed[0].json}


def test_confirm_and_close_races_have_one_winner(
    api: Client, tenant_name: Callable[[str], str], sql: psycopg.Connection
) -> None:
    # given
    tenant = tenant_name("race")
    client = api.for_tenant(tenant)

    # when: ORDERS_RACED orders, each confirmed and closed by RACERS racing clients
    results = [_race_one_order(client) for _ in range(ORDERS_RACED)]

    # then: each order is closed at version 3 (two writes + 1), with one outbox event
    orders = orders_of(sql, [tenant])
    events = outbox_events_per_order(sql, [tenant])
    for result in results:
        assert orders[result["id"]] == (tenant, "closed", 3)
        assert result["closed"]["version"] == 3
        assert result["closed"]["totalCents"] == result["total"]
        assert events[result["id"]] == 1
    assert sum(events.values()) == ORDERS_RACED
