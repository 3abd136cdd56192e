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
import socket
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
from faults.client import Client, Reply, Stats, exchange, new_key
from faults.proxy import (
    FrontDoor,
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
# How late past its timeout a slow client may be cut off on a busy 2-core machine.
CUT_OFF_SLACK_S = 2.5
LATENCY_BOUND_S = 1.0  # the p99 for ordinary and quiet clients


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


def trickle(port: int, head: bytes, drip: bytes, until: float) -> Cut:
    """Send `head`, then one `drip` a second until the server answers or closes the
    connection (or `until` passes, which means the server never cut it off)."""
    started = time.monotonic()
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
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
) -> None:
    # given: 50 connections trickling headers and 50 trickling a body, a byte a second,
    # each reconnecting when cut off, and 20 that never read their response, for the
    # whole attack
    attack_s = 12.0
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
            cut = trickle(door.port, head, b" ", until + 2 * BODY_TIMEOUT_S)
            with lock:
                body_cuts.append(cut)

    def non_reader(i: int) -> None:
        # asks for the 52 KB schema and reads none of it until the attack is over
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect(("127.0.0.1", door.port))
            sock.sendall(b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n")
            time.sleep(max(0.0, until - time.monotonic()))

    attackers = [threading.Thread(target=header_attacker, args=(i,)) for i in range(50)]
    attackers += [threading.Thread(target=body_attacker, args=(i,)) for i in range(50)]
    attackers += [threading.Thread(target=non_reader, args=(i,)) for i in range(20)]
    for thread in attackers:
        thread.start()
    time.sleep(1.0)  # every attacker connected

    # when: ordinary clients create and read orders meanwhile
    ordinary: list[Timed] = []

    def ordinary_client(i: int) -> None:
        client = door_api.for_tenant(tenant_name(f"ordinary{i}"))
        created = timed(lambda: client.create(new_key()))
        results = [created]
        if created.reply.status == 201:
            order_id = created.reply.json["id"]
            results.append(timed(lambda: client.get(order_id)))
        with lock:
            ordinary.extend(results)

    run_for(attack_s - 3, 4, ordinary_client)
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
        result = timed(lambda: door_api.for_tenant(tenant_name(f"cap{i}")).create(new_key()))
        with lock:
            capacity.append(result)

    measure_s = 3.0
    run_for(measure_s, WORKERS, measure)
    assert all(t.reply.status == 201 for t in capacity), Counter(t.reply.status for t in capacity)
    capacity_rps = len(capacity) / measure_s

    # when: 96 clients, each its own tenant, offer five times that rate between them
    flood_s = 8.0
    flood: list[tuple[str, Timed]] = []

    def flooder(i: int) -> None:
        tenant = tenant_name(f"flood{i}")
        result = timed(lambda: door_api.for_tenant(tenant).create(new_key()))
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
    # given: one tenant flooding creates and lists from 32 threads, retrying after a 429
    noisy = door_api.for_tenant(tenant_name("noisy"))
    quiet = door_api.for_tenant(tenant_name("quiet"))
    noisy_replies: list[Reply] = []
    quiet_replies: list[Timed] = []
    lock = threading.Lock()

    def noisy_client(i: int) -> None:
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


# --- what passes through ------------------------------------------------------------------


def test_request_id_client_address_and_keep_alive_pass_through(
    door: FrontDoor, door_api: Client, tenant_name: Callable[[str], str], workdir: Path
) -> None:
    # when: a client sends its request id and a forged X-Forwarded-For, twice on one
    # connection
    marker = f"door-{uuid.uuid4().hex}"
    conn = http.client.HTTPConnection("127.0.0.1", door.port, timeout=10)
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
        api = door_api.for_tenant(tenants[i])
        while not stop.is_set():
            key = new_key()
            started = time.monotonic()
            reply = api.create(key) if i % 2 else door_api.request("GET", "/healthz")
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
