"""A long mixed workload over many tenants, then an audit in SQL of everything said."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import psycopg

from faults.audit import orders_of, outbox_events_per_order
from faults.client import Client, Reply, Stats, new_key

TENANTS = 8
THREADS = 8
OPERATIONS = 8000  # across all threads
DEADLINE_S = 150


@dataclass
class Ledger:
    """What the clients were told: each order's tenant and its acknowledged writes."""

    tenant_of: dict[str, str] = field(default_factory=dict)
    writes: Counter[str] = field(default_factory=Counter)
    closed: set[str] = field(default_factory=set)
    versions: dict[str, int] = field(default_factory=dict)
    outcomes: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def acknowledge(self, reply: Reply, tenant: str) -> None:
        order = reply.json
        with self.lock:
            self.tenant_of[order["id"]] = tenant
            self.writes[order["id"]] += 1
            self.versions[order["id"]] = max(self.versions.get(order["id"], 0), order["version"])
            if order["status"] == "closed":
                self.closed.add(order["id"])

    def known(self, tenant: str, rng: random.Random) -> tuple[str, int] | None:
        with self.lock:
            mine = [order_id for order_id, t in self.tenant_of.items() if t == tenant]
            if not mine:
                return None
            order_id = rng.choice(mine[-50:])
            return order_id, self.versions[order_id]


EXPECTED = {
    "create": {201},
    "confirm": {200, 409, 412},
    "close": {200, 409, 412},
    "get": {200},
    "list": {200},
}


def one_operation(
    clients: list[Client], ledger: Ledger, rng: random.Random, tenants: list[str]
) -> None:
    index = rng.randrange(len(clients))
    client, tenant = clients[index], tenants[index]
    kind = rng.choices(["create", "confirm", "close", "get", "list"], [30, 25, 20, 10, 15])[0]
    target = ledger.known(tenant, rng)
    if kind not in {"create", "list"} and target is None:
        kind = "create"
    reply: Reply
    if kind == "create":
        reply = client.create(new_key())
    elif kind == "list":
        reply = client.list(f"limit={rng.randint(1, 100)}&status={rng.choice(['', 'closed'])}")
        if reply.status == 200:
            foreign = [o for o in reply.json["items"] if o["tenantId"] != tenant]
            assert not foreign, f"{tenant} was shown another tenant's orders: {foreign}"
    else:
        assert target is not None
        order_id, version = target
        if kind == "confirm":
            reply = client.confirm(order_id, str(version), rng.randint(0, 10**6), key=new_key())
        elif kind == "close":
            reply = client.close(order_id, version=rng.choice([None, f'"{version}"']))
        else:
            reply = client.get(order_id)
            # Another tenant asking for this order must see nothing at all.
            other = clients[(index + 1) % len(clients)].get(order_id)
            assert other.status == 404, other.describe()
            assert other.is_problem(), other.describe()
    assert reply.status in EXPECTED[kind], f"{kind}: {reply.describe()}"
    if reply.status >= 400:
        assert reply.is_problem(), reply.describe()
    with ledger.lock:
        ledger.outcomes[f"{kind} {reply.status}"] += 1
    if kind in ("create", "confirm", "close") and reply.status in (200, 201):
        ledger.acknowledge(reply, tenant)
    elif kind == "get" and reply.status == 200:
        with ledger.lock:
            ledger.versions[reply.json["id"]] = reply.json["version"]


def walk_all_pages(client: Client) -> list[str]:
    ids: list[str] = []
    cursor = ""
    for _ in range(1000):
        reply = client.list(f"limit=37&cursor={cursor}" if cursor else "limit=37")
        assert reply.status == 200, reply.describe()
        ids += [order["id"] for order in reply.json["items"]]
        cursor = reply.json["nextCursor"]
        if not cursor:
            return ids
    raise AssertionError("pagination did not end")


def test_mixed_workload_matches_the_database(
    api: Client, tenant_name: Callable[[str], str], sql: psycopg.Connection, stats: Stats
) -> None:
    # given: TENANTS tenants, THREADS client threads
    tenants = [tenant_name(f"t{n}") for n in range(TENANTS)]
    clients = [api.for_tenant(tenant) for tenant in tenants]
    ledger = Ledger()
    deadline = time.monotonic() + DEADLINE_S

    def worker(seed: int) -> int:
        rng = random.Random(seed)
        done = 0
        while done < OPERATIONS // THREADS and time.monotonic() < deadline:
            one_operation(clients, ledger, rng, tenants)
            done += 1
        return done

    # when
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        done = sum(pool.map(worker, range(THREADS), timeout=DEADLINE_S + 60))
    stats.add("workload_operations", done)

    # then: every order a client was told about is in the database, in its tenant,
    # and its version is exactly its acknowledged writes + 1 (the create is one write)
    orders = orders_of(sql, tenants)
    lost = set(ledger.tenant_of) - set(orders)
    stats.add("writes_lost", len(lost))
    assert not lost, f"acknowledged but missing: {lost}"
    assert set(orders) == set(ledger.tenant_of), "orders the clients were never told about"
    for order_id, (tenant, status, version) in orders.items():
        assert tenant == ledger.tenant_of[order_id]
        assert version == ledger.writes[order_id], f"{order_id}: v{version}"
        assert (status == "closed") == (order_id in ledger.closed)
    # and: every closed order has exactly one outbox event, and nothing else has one
    events = outbox_events_per_order(sql, tenants)
    assert set(events) == ledger.closed
    assert set(events.values()) <= {1}
    # and: each tenant's pages hold exactly its orders, once each
    for client, tenant in zip(clients, tenants, strict=True):
        walked = walk_all_pages(client)
        assert len(walked) == len(set(walked))
        assert set(walked) == {o for o, t in ledger.tenant_of.items() if t == tenant}
    assert done >= OPERATIONS // 2, f"only {done} operations in {DEADLINE_S}s"
    stats.add("writes_acknowledged", sum(ledger.writes.values()))
    print(dict(ledger.outcomes))  # noqa: T201 (shown with -s: the mix that ran)
