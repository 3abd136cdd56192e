"""The front door (`make serve`: HAProxy in front of gunicorn) under slow clients, floods,
a noisy tenant and a killed gunicorn.

Each attack runs for a few seconds against deploy/serve.py itself, with the production
settings and the proxy's default limits (deploy/haproxy/haproxy.cfg), while ordinary
clients measure what they get. Latency bounds here are the ones the issue sets for the
front door (p99 under one second for ordinary and quiet clients); everything else is
asserted on statuses, bodies and the database.
"""

from __future__ import annotations

import http.client
import math
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from faults.audit import orders_of
from faults.client import (
    LOOPBACK,
    Client,
    Reply,
    Stats,
    client_address,
    connect_from,
    exchange,
    new_key,
    split_answer,
)
from faults.proxy import (
    FrontDoor,
    create_api_key,
    kill_gunicorn,
    start_front_door,
    wait_for_new_master,
)
from faults.stack import Database

WORKERS = 4
# The proxy's defaults for this worker count (deploy/serve.py, haproxy.cfg).
REQUEST_TIMEOUT_S = 5.0  # PROXY_REQUEST_TIMEOUT: the whole header
BODY_TIMEOUT_S = 5.0  # PROXY_BODY_TIMEOUT: the whole body
TENANT_MAX_CONCURRENT = WORKERS // 2  # PROXY_TENANT_MAX_CONCURRENT
CLIENT_MAX_CONCURRENT = TENANT_MAX_CONCURRENT  # PROXY_CLIENT_MAX_CONCURRENT
# How late past its timeout a slow client may be cut off on a busy 2-core machine.
CUT_OFF_SLACK_S = 2.5
LATENCY_BOUND_S = 1.0  # the p99 for ordinary and quiet clients
# The proxy gives each client address a share of its own, so clients that stand for many
# (slow tricklers, a flood, a tenant's many callers) each connect from an address of their
# own (client_address); an attacker and its victim are two addresses.
VICTIM = LOOPBACK
ATTACKER = "127.0.0.2"
HEADER_TRICKLERS, BODY_TRICKLERS, NON_READERS, ORDINARY = 1, 2, 3, 4
MEASURERS, FLOODERS, NOISY_CALLERS, KILL_CLIENTS = 5, 6, 7, 8


@pytest.fixture(scope="module")
def door(database: Database, workdir: Path) -> Iterator[FrontDoor]:
    """deploy/serve.py with its defaults, gunicorn's access log kept to check addresses."""
    started = start_front_door(
        database.url,
        workdir,
        workers=WORKERS,
        GUNICORN_ACCESS_LOG=str(workdir / "front-door-access.log"),
    )
    yield started
    started.stop()


@pytest.fixture
def door_api(door: FrontDoor, stats: Stats) -> Client:
    return Client(door.port, stats)


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


@dataclass(frozen=True)
class Timed:
    """A reply and how long it took."""

    reply: Reply
    seconds: float


def timed(call: Callable[[], Reply]) -> Timed:
    started = time.monotonic()
    reply = call()
    return Timed(reply, time.monotonic() - started)


def run_for(seconds: float, threads: int, work: Callable[[int], None]) -> None:
    """`work(i)` in a loop on each of `threads` threads until `seconds` have passed."""
    deadline = time.monotonic() + seconds
    errors: list[BaseException] = []

    def loop(index: int) -> None:
        try:
            while time.monotonic() < deadline:
                work(index)
        except BaseException as exc:  # surfaced in the test, not lost in a thread
            errors.append(exc)

    pool = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    if errors:
        raise errors[0]


def run_paced(seconds: float, threads: int, rate: float, work: Callable[[int], None]) -> None:
    """`work(i)` started `rate` times a second in all, spread over `threads` threads (a
    thread still busy with its last call starts the next one late, never two at once)."""
    interval = threads / rate
    start = time.monotonic()
    deadline = start + seconds
    next_at = [start + i * interval / threads for i in range(threads)]

    def paced(index: int) -> None:
        delay = next_at[index] - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        if time.monotonic() < deadline:
            work(index)
        next_at[index] += interval

    run_for(seconds, threads, paced)


def assert_shed(reply: Reply, statuses: set[int]) -> None:
    """A refusal by the front door: problem+json with Retry-After, never HTML."""
    assert reply.status in statuses, reply.describe()
    assert reply.is_problem(), reply.describe()
    assert reply.headers.get("retry-after") == "1", reply.headers


# --- slow clients ---------------------------------------------------------------------


@dataclass(frozen=True)
class Cut:
    """How one slow connection ended: after how long, and what (if anything) it was told."""

    seconds: float
    answer: bytes


def trickle(port: int, head: bytes, drip: bytes, until: float, *, source: str) -> Cut:
    """Send `head` from `source`, then one `drip` a second until the server answers or
    closes the connection (or `until` passes, which means the server never cut it off)."""
    started = time.monotonic()
    answer = b""
    with connect_from(source, port, timeout=10) as sock:
        sock.sendall(head)
        sock.settimeout(1.0)
        while time.monotonic() < until:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                try:
                    sock.sendall(drip)
                except OSError:
                    break
                continue
            except OSError:
                break
            if not chunk:
                break
            answer += chunk
    return Cut(time.monotonic() - started, answer)


def test_slow_clients_are_cut_off_while_ordinary_clients_are_served(
    door: FrontDoor,
    door_api: Client,
    tenant_name: Callable[[str], str],
    stats: Stats,
    workdir: Path,
) -> None:
    # given: 50 connections trickling headers and 50 trickling a body, a byte a second,
    # each reconnecting when cut off, and 20 that never read their response, for the
    # whole attack, each from an address of its own
    attack_s = 14.0
    until = time.monotonic() + attack_s
    header_cuts: list[Cut] = []
    body_cuts: list[Cut] = []
    lock = threading.Lock()

    def header_attacker(i: int) -> None:
        while time.monotonic() < until - 1:
            cut = trickle(
                door.port,
                b"GET /orders HTTP/1.1\r\nHost: x\r\n",
                b"X-Slow: y\r\n",
                until + 2 * REQUEST_TIMEOUT_S,
                source=client_address(HEADER_TRICKLERS, i),
            )
            with lock:
                header_cuts.append(cut)

    def body_attacker(i: int) -> None:
        tenant = tenant_name(f"slow{i}").encode()
        while time.monotonic() < until - 1:
            head = (
                b"POST /orders HTTP/1.1\r\nHost: x\r\nX-Tenant-Id: " + tenant + b"\r\n"
                b"Idempotency-Key: " + new_key().encode() + b"\r\n"
                b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
            )
            cut = trickle(
                door.port,
                head,
                b" ",
                until + 2 * BODY_TIMEOUT_S,
                source=client_address(BODY_TRICKLERS, i),
            )
            with lock:
                body_cuts.append(cut)

    unread = f"unread-{uuid.uuid4().hex}"

    def non_reader(i: int) -> None:
        # asks for the 52 KB schema and reads none of it until the attack is over; one
        # every 0.2 s (20 at once would fill the workers and the queue for a moment: an
        # overload, which is not what this test is about)
        time.sleep(0.2 * i)
        source = client_address(NON_READERS, i)
        with connect_from(source, door.port, timeout=10, receive_buffer=4096) as sock:
            sock.sendall(f"GET /openapi.json?m={unread} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            time.sleep(max(0.0, until - time.monotonic()))

    attackers = [threading.Thread(target=header_attacker, args=(i,)) for i in range(50)]
    attackers += [threading.Thread(target=body_attacker, args=(i,)) for i in range(50)]
    attackers += [threading.Thread(target=non_reader, args=(i,)) for i in range(20)]
    for thread in attackers:
        thread.start()
    # every attacker connected, and gunicorn done with the schemas nobody reads
    time.sleep(1.0)
    served = wait_for_access_lines(workdir, unread, 20, until - 6)
    assert served == 20, f"gunicorn served {served} of the 20 unread schemas"

    # when: ordinary clients create and read orders meanwhile
    ordinary: list[Timed] = []

    def ordinary_client(i: int) -> None:
        client = door_api.from_address(client_address(ORDINARY, i))
        client = client.for_tenant(tenant_name(f"ordinary{i}"))
        created = timed(lambda: client.create(new_key()))
        results = [created]
        if created.reply.status == 201:
            order_id = created.reply.json["id"]
            results.append(timed(lambda: client.get(order_id)))
        with lock:
            ordinary.extend(results)

    run_for(until - 2 - time.monotonic(), 4, ordinary_client)
    for thread in attackers:
        thread.join()

    # then: every ordinary request was answered, fast
    statuses = Counter(t.reply.status for t in ordinary)
    assert set(statuses) <= {200, 201}, statuses
    latency = p99([t.seconds for t in ordinary])
    assert latency < LATENCY_BOUND_S, f"ordinary p99 {latency:.3f}s under the slow clients"

    # and: a header trickler is cut off (closed, no body sent) once its header time is up
    assert len(header_cuts) >= 50
    assert max(c.seconds for c in header_cuts) < REQUEST_TIMEOUT_S + CUT_OFF_SLACK_S
    assert all(c.answer == b"" for c in header_cuts), {c.answer[:80] for c in header_cuts}

    # and: a body trickler gets 408 problem+json once its body time is up
    assert len(body_cuts) >= 50
    assert max(c.seconds for c in body_cuts) < BODY_TIMEOUT_S + CUT_OFF_SLACK_S
    for cut in body_cuts:
        head, _, body = cut.answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408 "), cut.answer[:200]
        assert b"content-type: application/problem+json" in head.lower()
        assert b'"code": "request_timeout"' in body

    stats.add("front_door_slow_connections", len(header_cuts) + len(body_cuts))
    stats.record("slow_clients_ordinary_p99_ms", round(latency * 1000, 1))
    stats.record("slow_clients_ordinary_requests", len(ordinary))
    stats.record("slow_header_cut_after_max_s", round(max(c.seconds for c in header_cuts), 2))
    stats.record("slow_body_cut_after_max_s", round(max(c.seconds for c in body_cuts), 2))


def wait_for_access_lines(workdir: Path, marker: str, count: int, until: float) -> int:
    """How many lines of gunicorn's access log name `marker`, once there are `count` of
    them or `until` has passed (a worker writes its line after its response)."""
    while True:
        log = (workdir / "front-door-access.log").read_text()
        found = sum(marker in line for line in log.splitlines())
        if found >= count or time.monotonic() > until:
            return found
        time.sleep(0.1)


# --- overload ---------------------------------------------------------------------------


def test_overload_is_shed_fast_and_admitted_writes_are_kept(
    door_api: Client,
    tenant_name: Callable[[str], str],
    sql: psycopg.Connection,
    stats: Stats,
) -> None:
    # given: the throughput of creates with one client per worker
    capacity: list[Timed] = []
    lock = threading.Lock()

    def measure(i: int) -> None:
        client = door_api.from_address(client_address(MEASURERS, i))
        result = timed(lambda: client.for_tenant(tenant_name(f"cap{i}")).create(new_key()))
        with lock:
            capacity.append(result)

    measure_s = 3.0
    run_for(measure_s, WORKERS, measure)
    assert all(t.reply.status == 201 for t in capacity), Counter(t.reply.status for t in capacity)
    capacity_rps = len(capacity) / measure_s

    # when: 96 clients, each its own tenant and address, offer five times that rate
    # between them
    flood_s = 8.0
    flood: list[tuple[str, Timed]] = []

    def flooder(i: int) -> None:
        tenant = tenant_name(f"flood{i}")
        client = door_api.from_address(client_address(FLOODERS, i)).for_tenant(tenant)
        result = timed(lambda: client.create(new_key()))
        with lock:
            flood.append((tenant, result))

    started = time.monotonic()
    run_paced(flood_s, 96, 5 * capacity_rps, flooder)
    offered_rps = len(flood) / (time.monotonic() - started)

    # then: what was admitted was served within a bound, the rest refused at once
    admitted = [t for _, t in flood if t.reply.status == 201]
    refused = [t for _, t in flood if t.reply.status != 201]
    assert admitted, "nothing was admitted under overload"
    assert refused, f"nothing was shed at {offered_rps:.0f} req/s offered"
    for t in refused:
        assert_shed(t.reply, {503, 429})
    admitted_p99 = p99([t.seconds for t in admitted])
    refused_p99 = p99([t.seconds for t in refused])
    # The queue timeout (1 s) plus one request's service time.
    assert admitted_p99 < 2.0, f"admitted p99 {admitted_p99:.3f}s"
    assert refused_p99 < LATENCY_BOUND_S, f"refusals p99 {refused_p99:.3f}s"
    # The flood must really have been beyond capacity. Five times is asked for, but the
    # client's threads share the cores with the server: on a fast machine they reached
    # 3.3 times, so twice is what the test can rely on.
    assert offered_rps >= 2 * capacity_rps, (offered_rps, capacity_rps)

    # and: every acknowledged create is in the database, and nothing refused is
    acknowledged = {(tenant, t.reply.json["id"]) for tenant, t in flood if t.reply.status == 201}
    tenants = {tenant for tenant, _ in flood}
    stored = {(tenant, order_id) for order_id, (tenant, _, _) in orders_of(sql, tenants).items()}
    assert stored == acknowledged

    stats.add("acknowledged_writes_audited", len(acknowledged))
    stats.record("overload_capacity_rps", round(capacity_rps, 1))
    stats.record("overload_offered_rps", round(offered_rps, 1))
    stats.record("overload_admitted_rps", round(len(admitted) / flood_s, 1))
    stats.record("overload_admitted_p99_ms", round(admitted_p99 * 1000, 1))
    stats.record("overload_refused", len(refused))
    stats.record("overload_refused_p99_ms", round(refused_p99 * 1000, 1))


# --- a noisy tenant -------------------------------------------------------------------


def test_a_noisy_tenant_does_not_starve_a_quiet_one(
    door_api: Client,
    tenant_name: Callable[[str], str],
    stats: Stats,
) -> None:
    # given: one tenant flooding creates and lists from 32 threads, each from an address
    # of its own (so that its tenant share, not a client's, is what holds it back),
    # retrying after a 429
    noisy_tenant = door_api.for_tenant(tenant_name("noisy"))
    quiet = door_api.for_tenant(tenant_name("quiet"))
    noisy_replies: list[Reply] = []
    quiet_replies: list[Timed] = []
    lock = threading.Lock()

    def noisy_client(i: int) -> None:
        noisy = noisy_tenant.from_address(client_address(NOISY_CALLERS, i))
        reply = noisy.create(new_key()) if i % 2 else noisy.list("limit=50")
        with lock:
            noisy_replies.append(reply)
        if reply.status == 429:
            # retries at once, bar a network's round trip: without it the 32 threads
            # would spend this machine's two cores on 429s, which a real flood from
            # elsewhere does not take from the service
            time.sleep(0.02)

    def quiet_client(i: int) -> None:
        created = timed(lambda: quiet.create(new_key()))
        listed = timed(lambda: quiet.list("limit=5"))
        with lock:
            quiet_replies.extend([created, listed])
        time.sleep(0.1)

    flood = threading.Thread(target=run_for, args=(10.0, 32, noisy_client))
    flood.start()
    time.sleep(1.0)

    # when: the quiet tenant sends a steady trickle meanwhile
    run_for(8.0, 1, quiet_client)
    flood.join()

    # then: every quiet request succeeded, fast
    statuses = Counter(t.reply.status for t in quiet_replies)
    assert set(statuses) <= {200, 201}, statuses
    latency = p99([t.seconds for t in quiet_replies])
    assert latency < LATENCY_BOUND_S, f"quiet tenant p99 {latency:.3f}s"

    # and: the noisy tenant was held to its share with 429s, and nothing else failed
    over_share = [r for r in noisy_replies if r.status == 429]
    assert over_share, Counter(r.status for r in noisy_replies)
    for reply in over_share:
        assert_shed(reply, {429})
        assert reply.json["code"] == "rate_limited"
    assert {r.status for r in noisy_replies} <= {200, 201, 429}

    stats.record("noisy_tenant_requests", len(noisy_replies))
    stats.record("noisy_tenant_refused_429", len(over_share))
    stats.record("quiet_tenant_requests", len(quiet_replies))
    stats.record("quiet_tenant_p99_ms", round(latency * 1000, 1))


# --- nobody spends another tenant's share -----------------------------------------------


@pytest.fixture(scope="module")
def api_key_door(database: Database, workdir: Path) -> Iterator[FrontDoor]:
    """deploy/serve.py with TENANT_AUTH_MODE=api-key: every /orders request needs a key."""
    started = start_front_door(database.url, workdir, workers=WORKERS, TENANT_AUTH_MODE="api-key")
    yield started
    started.stop()


@pytest.fixture(params=["trusted-header", "api-key"])
def either_door(request: pytest.FixtureRequest) -> FrontDoor:
    """The front door in each TENANT_AUTH_MODE."""
    door: FrontDoor = request.getfixturevalue(
        "door" if request.param == "trusted-header" else "api_key_door"
    )
    return door


@pytest.fixture
def victim(either_door: FrontDoor, stats: Stats, tenant_name: Callable[[str], str]) -> Client:
    """A tenant's own caller on 127.0.0.1, with a valid key of it in api-key mode."""
    client = Client(either_door.port, stats, tenant_name("victim"), source=VICTIM)
    if either_door.env["TENANT_AUTH_MODE"] == "api-key":
        assert client.tenant is not None
        client = client.with_api_key(create_api_key(either_door, client.tenant))
    return client


def victim_traffic(victim: Client, seconds: float) -> list[Timed]:
    """The victim creating and listing its orders, one request at a time."""
    replies: list[Timed] = []

    def work(i: int) -> None:
        replies.append(timed(lambda: victim.create(new_key())))
        replies.append(timed(lambda: victim.list("limit=5")))
        time.sleep(0.05)

    run_for(seconds, 1, work)
    return replies


def served_share(replies: list[Timed]) -> float:
    return sum(200 <= t.reply.status < 300 for t in replies) / len(replies)


VICTIM_SERVED_SHARE = 0.95  # the bar: the victim answered at least 95 % of the time


def test_slow_bodies_naming_a_tenant_do_not_spend_its_share(
    either_door: FrontDoor, victim: Client, sql: psycopg.Connection, stats: Stats
) -> None:
    # given: from another address, six connections at a time (twice the tenant's share)
    # send `POST /orders` naming the victim's tenant, `Content-Length: 100` and a body of
    # `{`, and two more name it in a list (`evil,<tenant>`); each starts again once
    # answered, for the whole attack
    tenant = victim.tenant
    assert tenant is not None
    attack_s = 12.0
    until = time.monotonic() + attack_s
    answers: list[tuple[str, Cut]] = []
    lock = threading.Lock()

    def attacker(i: int) -> None:
        named = tenant if i < 6 else f"evil,{tenant}"
        while time.monotonic() < until - 1:
            head = (
                f"POST /orders HTTP/1.1\r\nHost: x\r\nX-Tenant-Id: {named}\r\n"
                f"Idempotency-Key: {new_key()}\r\nContent-Type: application/json\r\n"
                "Content-Length: 100\r\n\r\n{"
            ).encode()
            cut = trickle(either_door.port, head, b"", until + 2 * BODY_TIMEOUT_S, source=ATTACKER)
            with lock:
                answers.append((named, cut))
            if not cut.answer.startswith(b"HTTP/1.1 408 "):
                time.sleep(0.1)  # a refusal is at once: retry after a network's round trip

    attackers = [threading.Thread(target=attacker, args=(i,)) for i in range(8)]
    for thread in attackers:
        thread.start()
    time.sleep(1.0)  # every attacker connected

    # when: the tenant's own caller works meanwhile
    replies = victim_traffic(victim, attack_s - 3)
    for thread in attackers:
        thread.join()

    # then: the victim was served, fast
    served = served_share(replies)
    assert served >= VICTIM_SERVED_SHARE, Counter(t.reply.status for t in replies)
    latency = p99([t.seconds for t in replies])
    assert latency < LATENCY_BOUND_S, f"victim p99 {latency:.3f}s"

    # and: the attacker spent its own share: each unfinished body held it until its
    # 408, and the connections beyond it were refused 429 at once
    seen: Counter[tuple[str, int]] = Counter()
    for named, cut in answers:
        status, head, body = split_answer(cut.answer)
        seen[named, status] += 1
        assert b"content-type: application/problem+json" in head.lower(), cut.answer[:300]
        if status == 408:
            assert b'"code": "request_timeout"' in body
            assert cut.seconds < BODY_TIMEOUT_S + CUT_OFF_SLACK_S
        elif status == 429:
            assert b'"code": "rate_limited"' in body
            assert b"retry-after: 1" in head.lower()
        else:
            # a list names no one tenant: refused at the door, before any tenant's count
            assert (named, status) == (f"evil,{tenant}", 400), cut.answer[:300]
            assert b'"code": "invalid_tenant"' in body
    assert seen[tenant, 408], seen
    assert seen[tenant, 429], seen

    # and: the tenant's orders are exactly the ones its own caller was told of
    acknowledged = {t.reply.json["id"] for t in replies if t.reply.status == 201}
    assert set(orders_of(sql, {tenant})) == acknowledged

    mode = either_door.env["TENANT_AUTH_MODE"]
    stats.record(f"slow_body_victim_requests_{mode}", len(replies))
    stats.record(f"slow_body_victim_served_pct_{mode}", round(100 * served, 1))
    stats.record(f"slow_body_victim_p99_ms_{mode}", round(latency * 1000, 1))
    stats.record(f"slow_body_attacker_408_{mode}", seen[tenant, 408])
    stats.record(
        f"slow_body_attacker_429_{mode}", sum(n for (_, s), n in seen.items() if s == 429)
    )


def test_fresh_tenant_ids_and_cookies_from_one_client_do_not_crowd_out_a_tenant(
    either_door: FrontDoor, victim: Client, tenant_name: Callable[[str], str], stats: Stats
) -> None:
    # given: from another address, 40 connections each sending request after request,
    # every one in a bucket of its own: a create naming a new tenant, or a list with a
    # made-up session cookie; retrying 20 ms after a 429 (a network's round trip)
    attacker = Client(either_door.port, stats, source=ATTACKER)
    sent: list[Reply] = []
    lock = threading.Lock()
    counter = iter(range(1_000_000))

    def flooder(i: int) -> None:
        with lock:
            n = next(counter)
        if n % 2:
            reply = attacker.for_tenant(tenant_name(f"fresh{n}")).create(new_key())
        else:
            cookie: dict[str, str | bytes] = {"Cookie": f"sessionid={uuid.uuid4().hex}"}
            reply = attacker.request("GET", "/orders?limit=50", headers=cookie)
        with lock:
            sent.append(reply)
        if reply.status == 429:
            time.sleep(0.02)

    flood = threading.Thread(target=run_for, args=(10.0, 40, flooder))
    flood.start()
    time.sleep(1.0)

    # when: the tenant's own caller works meanwhile
    replies = victim_traffic(victim, 8.0)
    flood.join()

    # then: the victim was served, fast
    served = served_share(replies)
    assert served >= VICTIM_SERVED_SHARE, Counter(t.reply.status for t in replies)
    latency = p99([t.seconds for t in replies])
    assert latency < LATENCY_BOUND_S, f"victim p99 {latency:.3f}s"

    # and: the attacker was held to its client share with 429s; what it was let through
    # got the app's own answer (a fresh tenant's create; no tenant, no key)
    over_share = [r for r in sent if r.status == 429]
    assert over_share, Counter(r.status for r in sent)
    for reply in over_share:
        assert_shed(reply, {429})
        assert reply.json["code"] == "rate_limited"
    assert {r.status for r in sent} <= {201, 400, 401, 429}, Counter(r.status for r in sent)

    mode = either_door.env["TENANT_AUTH_MODE"]
    stats.record(f"fresh_ids_attacker_requests_{mode}", len(sent))
    stats.record(f"fresh_ids_attacker_429_{mode}", len(over_share))
    stats.record(f"fresh_ids_victim_requests_{mode}", len(replies))
    stats.record(f"fresh_ids_victim_served_pct_{mode}", round(100 * served, 1))
    stats.record(f"fresh_ids_victim_p99_ms_{mode}", round(latency * 1000, 1))


TENANT_LISTS = {
    "a list": [b"X-Tenant-Id: evil,%s"],
    "the header twice": [b"X-Tenant-Id: evil", b"X-Tenant-Id: %s"],
}


@pytest.mark.parametrize("lines", TENANT_LISTS.values(), ids=TENANT_LISTS.keys())
def test_a_tenant_list_or_a_repeated_tenant_header_is_refused_at_the_door(
    door: FrontDoor, tenant_name: Callable[[str], str], workdir: Path, lines: list[bytes]
) -> None:
    # given: a request naming a tenant in a list, or twice
    tenant = tenant_name("named").encode()
    refused, later = f"door-{uuid.uuid4().hex}", f"door-{uuid.uuid4().hex}"
    head = b"".join(line % tenant + b"\r\n" if b"%s" in line else line + b"\r\n" for line in lines)

    # when
    answer = exchange(
        door.port, f"GET /orders?m={refused} HTTP/1.1\r\nHost: x\r\n".encode() + head + b"\r\n"
    )

    # then: 400 invalid_tenant problem+json
    status, head_bytes, body = split_answer(answer)
    assert status == 400, answer[:300]
    assert b"content-type: application/problem+json" in head_bytes.lower()
    assert b'"code": "invalid_tenant"' in body

    # and: from the proxy: gunicorn logs a later request, and never saw this one
    exchange(
        door.port,
        f"GET /healthz?m={later} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode(),
    )
    deadline = time.monotonic() + 10
    log = ""
    while later not in log and time.monotonic() < deadline:
        time.sleep(0.1)
        log = (workdir / "front-door-access.log").read_text()
    assert later in log
    assert refused not in log


# --- what passes through ------------------------------------------------------------------


def test_request_id_client_address_and_keep_alive_pass_through(
    door: FrontDoor, door_api: Client, tenant_name: Callable[[str], str], workdir: Path
) -> None:
    # when: a client sends its request id and a forged X-Forwarded-For, twice on one
    # connection
    marker = f"door-{uuid.uuid4().hex}"
    conn = http.client.HTTPConnection(LOOPBACK, door.port, timeout=10)
    try:
        replies = []
        for _ in range(2):
            conn.request(
                "GET",
                f"/orders?limit=1&m={marker}",
                headers={
                    "X-Request-ID": marker,
                    "X-Tenant-Id": tenant_name("pass"),
                    "X-Forwarded-For": "203.0.113.9",
                },
            )
            response = conn.getresponse()
            response.read()
            replies.append((response.status, response.getheader("X-Request-ID")))
            # then: the connection stays open for the next request
            assert not response.will_close
    finally:
        conn.close()

    # then: the app saw and echoed the caller's request id
    assert replies == [(200, marker), (200, marker)]
    # and: gunicorn logged the real client address, not the forged one nor the socket
    # (a worker writes its line after the response, so give it a moment)
    deadline = time.monotonic() + 10
    while True:
        log = (workdir / "front-door-access.log").read_text()
        lines = [line for line in log.splitlines() if marker in line]
        if len(lines) == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert len(lines) == 2, lines
    assert all(line.startswith("127.0.0.1 ") for line in lines), lines

    # and: a refusal by the proxy itself carries a request id too
    refused = door_api.request("POST", "/orders", headers={"Content-Length": "999999999"})
    assert refused.status == 413, refused.describe()
    assert refused.is_problem(), refused.describe()
    assert refused.headers.get("x-request-id")


def test_chunked_bodies_are_measured_by_the_proxy(
    door: FrontDoor, tenant_name: Callable[[str], str]
) -> None:
    # given: a chunked body over the limit, which declares no length
    body = b"[" + b"1," * 40_000 + b"1]"
    head = (
        b"POST /orders HTTP/1.1\r\nHost: x\r\nX-Tenant-Id: "
        + tenant_name("chunked").encode()
        + b"\r\nIdempotency-Key: "
        + new_key().encode()
        + b"\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    chunked = b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"

    # when
    answer = exchange(door.port, head + chunked)

    # then: refused by the proxy before gunicorn saw it
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 413 "), answer[:300]
    assert b"content-type: application/problem+json" in rest.lower()
    assert b'"code": "payload_too_large"' in rest


# --- whatever arrives, never the proxy's HTML ---------------------------------------------

# Requests HAProxy's own HTTP/1 parser refuses before any rule runs: it may only close.
UNPARSABLE = {
    "a space in a header name": b"GET /orders HTTP/1.1\r\nHost: x\r\nX Tenant: a\r\n\r\n",
    "a NUL in the path": b"GET /ord\x00ers HTTP/1.1\r\nHost: x\r\n\r\n",
    "two Content-Lengths": b"POST /orders HTTP/1.1\r\nHost: x\r\n"
    b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
    "an unsupported transfer coding": b"POST /orders HTTP/1.1\r\nHost: x\r\n"
    b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    "a malformed chunk": b"POST /orders HTTP/1.1\r\nHost: x\r\n"
    b"Transfer-Encoding: chunked\r\n\r\nzz\r\n\r\n",
    "headers larger than the buffer": b"GET /orders HTTP/1.1\r\nHost: x\r\nX-Big: "
    + b"a" * 200_000
    + b"\r\n\r\n",
    "an HTTP/2 preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
}


@pytest.mark.parametrize("data", UNPARSABLE.values(), ids=UNPARSABLE.keys())
def test_a_request_the_proxy_cannot_parse_is_closed_without_html(
    door: FrontDoor, data: bytes
) -> None:
    # when
    answer = exchange(door.port, data)

    # then: the connection is closed with nothing sent (HAProxy 2.6 could only send HTML)
    assert answer == b"", answer[:300]


def test_an_http_1_0_request_without_host_is_served(door: FrontDoor) -> None:
    # when: an HTTP/1.0 client, which need not send Host
    answer = exchange(door.port, b"GET /healthz HTTP/1.0\r\n\r\n")

    # then: answered as any other (gunicorn on its socket would name the host after it)
    assert answer.startswith(b"HTTP/1.0 200 "), answer[:300]


# --- gunicorn killed and restarted ------------------------------------------------------


def test_a_killed_gunicorn_is_503_then_service_resumes(
    door: FrontDoor,
    door_api: Client,
    tenant_name: Callable[[str], str],
    sql: psycopg.Connection,
    stats: Stats,
) -> None:
    # given: clients creating orders (one tenant each, fresh keys) and probing /healthz
    tenants = [tenant_name(f"kill{i}") for i in range(4)]
    # (tenant, key or "", reply, when it was sent, when it was answered)
    sent: list[tuple[str, str, Reply, float, float]] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(i: int) -> None:
        caller = door_api.from_address(client_address(KILL_CLIENTS, i))
        api = caller.for_tenant(tenants[i])
        while not stop.is_set():
            key = new_key()
            started = time.monotonic()
            reply = api.create(key) if i % 2 else caller.request("GET", "/healthz")
            with lock:
                sent.append((tenants[i], key if i % 2 else "", reply, started, time.monotonic()))
            time.sleep(0.02)

    pool = [threading.Thread(target=client, args=(i,)) for i in range(len(tenants))]
    for thread in pool:
        thread.start()
    time.sleep(2.0)

    # when: gunicorn's master and its workers are SIGKILLed
    killed_at = time.monotonic()
    old_master = kill_gunicorn(door)
    stats.add("faults_gunicorn_killed")
    new_master = wait_for_new_master(door, old_master)
    # then: serve.py started a new one, and service resumes by itself
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with lock:
            recovered = [s for s in sent if s[4] > killed_at and s[2].status in (200, 201)]
        if len(recovered) >= 20:
            break
        time.sleep(0.2)
    stop.set()
    for thread in pool:
        thread.join()
    assert new_master != old_master
    assert len(recovered) >= 20, f"no recovery:\n{door.log_tail()}"

    # and: every request sent after the kill was answered 2xx or 502/503 problem+json
    # with Retry-After. One in flight at the kill may instead be cut off: once the
    # proxy has passed a response's status line on, a worker killed before writing the
    # body leaves nothing to answer with (the create audit below covers it).
    after_kill = [s for s in sent if s[3] > killed_at]
    outage = [s[2] for s in after_kill if s[2].status not in (200, 201)]
    assert outage, "no request met the outage"
    for reply in outage:
        assert_shed(reply, {502, 503})
    in_flight = [s for s in sent if s[3] <= killed_at < s[4]]
    answered = [s for s in sent if s not in in_flight or s[2].status != 0]
    assert all(s[2].status in (200, 201, 502, 503) for s in answered), Counter(
        s[2].status for s in answered
    )

    # and: every acknowledged create is stored; a refused one is stored at most once
    # (a request cut mid-flight may have committed), and its retry is exactly-once
    creates = [(t, k, r) for t, k, r, _, _ in sent if k]
    acknowledged = {(t, r.json["id"]) for t, _, r in creates if r.status == 201}
    stored = orders_of(sql, tenants)
    assert acknowledged <= {(tenant, oid) for oid, (tenant, _, _) in stored.items()}
    for tenant, key, reply in creates:
        if reply.status != 201:
            retry = door_api.for_tenant(tenant).create(key)
            assert retry.status == 201, retry.describe()
    stored_after = orders_of(sql, tenants)
    assert len(stored_after) == len(creates)

    stats.record("gunicorn_kill_outage_answers", len(outage))
    last_refusal = max(s[4] for s in after_kill if s[2].status not in (200, 201))
    stats.record("gunicorn_kill_outage_s", round(last_refusal - killed_at, 2))
