"""Hostile input over HTTP: whatever arrives, the answer is never a 5xx, every refusal
is problem+json, and a refused request changes nothing in the database."""

from __future__ import annotations

import json
import string
import time
import uuid
from collections.abc import Callable
from urllib.parse import quote

import psycopg
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from faults.audit import snapshot
from faults.client import Client, Reply, Stats, exchange, new_key, split_answer
from faults.stack import Server

EXAMPLES = 300
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
MAX_BODY = 64 * 1024

# Header values as a client can put them on the wire: any byte but CR, LF and NUL
# (those end or corrupt the header; gunicorn's parser answers them itself).
header_bytes = st.binary(min_size=0, max_size=300).map(
    lambda b: bytes(c for c in b if c not in b"\r\n\x00")
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def assert_refused(reply: Reply, *statuses: int) -> None:
    """A 4xx (one of `statuses` when given) with an RFC 9457 body."""
    assert 400 <= reply.status < 500, reply.describe()
    if statuses:
        assert reply.status in statuses, reply.describe()
    assert reply.is_problem(), reply.describe()


def assert_sane(reply: Reply) -> None:
    """Never a 5xx or a cut connection; a non-2xx/3xx is always problem+json."""
    assert reply.status != 0, reply.describe()
    assert reply.status < 500, reply.describe()
    if reply.status >= 400:
        assert reply.is_problem(), reply.describe()


@pytest.fixture
def unchanged(sql: psycopg.Connection) -> Callable[[], None]:
    """`unchanged()` asserts the database still looks as when the test began."""
    before = snapshot(sql)

    def check() -> None:
        assert snapshot(sql) == before, "a refused request changed the database"

    return check


@pytest.fixture
def draft(api: Client, tenant_name: Callable[[str], str]) -> tuple[Client, str]:
    client = api.for_tenant(tenant_name("hostile"))
    created = client.create(new_key())
    assert created.status == 201, created.describe()
    return client, created.json["id"]


def _valid_tenant(raw: bytes) -> bool:
    return 1 <= len(raw) <= 64 and all(
        chr(c) in string.ascii_letters + string.digits + "._-" for c in raw
    )


@FUZZ
@given(tenant=header_bytes)
def test_tenant_header(
    api: Client, stats: Stats, unchanged: Callable[[], None], tenant: bytes
) -> None:
    assume(not _valid_tenant(tenant.strip(b" \t")))
    stats.add("hostile_inputs")
    reply = api.request(
        "POST", "/orders", headers={"X-Tenant-Id": tenant, "Idempotency-Key": new_key()}, body={}
    )
    assert_refused(reply, 400)
    # bad_request: bytes HTTP itself forbids in a field value, refused by the parser.
    assert reply.json["code"] in ("invalid_tenant", "bad_request"), reply.describe()
    listed = api.request("GET", "/orders", headers={"X-Tenant-Id": tenant})
    assert_refused(listed, 400)
    unchanged()


@FUZZ
@given(key=header_bytes)
def test_idempotency_key(
    api: Client,
    tenant_name: Callable[[str], str],
    stats: Stats,
    sql: psycopg.Connection,
    key: bytes,
) -> None:
    stats.add("hostile_inputs")
    before = snapshot(sql)
    reply = api.for_tenant(tenant_name("key")).request(
        "POST", "/orders", headers={"Idempotency-Key": key}, body={}
    )
    assert_sane(reply)
    if reply.status != 201:
        assert_refused(reply, 400, 409, 422)
        assert snapshot(sql) == before
    if any(c > 0x7E or (c < 0x20 and c != 0x09) for c in key) or not key.strip(b" \t"):
        assert reply.status == 400, f"{key!r} is not a valid key: {reply.describe()}"


@FUZZ
@given(if_match=header_bytes)
def test_if_match(
    draft: tuple[Client, str], stats: Stats, unchanged: Callable[[], None], if_match: bytes
) -> None:
    text = if_match.decode("latin-1").strip()
    # A list holds when any member names the version (RFC 9110): skip those, too.
    members = {member.strip() for member in text.split(",")}
    assume(text != "*" and not members & {"1", '"1"', 'W/"1"'})
    stats.add("hostile_inputs")
    client, order_id = draft
    reply = client.request(
        "PATCH", f"/orders/{order_id}/confirm", headers={"If-Match": if_match},
        body={"totalCents": 1},
    )  # fmt: skip
    # 400: bytes HTTP forbids in a field value, refused by gunicorn's parser.
    assert_refused(reply, 400, 412, 428)
    reply = client.request("POST", f"/orders/{order_id}/close", headers={"If-Match": if_match})
    assert_refused(reply, 400, 409, 412)
    unchanged()


@FUZZ
@given(if_none_match=header_bytes)
def test_if_none_match(draft: tuple[Client, str], stats: Stats, if_none_match: bytes) -> None:
    stats.add("hostile_inputs")
    client, order_id = draft
    reply = client.request("GET", f"/orders/{order_id}", headers={"If-None-Match": if_none_match})
    assert reply.status in (200, 304, 400), reply.describe()
    assert_sane(reply)


@FUZZ
@given(
    cursor=st.text(min_size=1, max_size=400)
    | st.binary(min_size=1, max_size=200).map(lambda b: b.decode("latin-1"))
)
def test_cursor(draft: tuple[Client, str], stats: Stats, cursor: str) -> None:
    stats.add("hostile_inputs")
    client, _ = draft
    reply = client.list(f"cursor={quote(cursor.encode('utf-8', 'surrogatepass'), safe='')}")
    assert_refused(reply, 400)
    # validation_error: characters no query value may hold (NUL), before any decoding.
    assert reply.json["code"] in ("invalid_cursor", "validation_error"), reply.describe()


def test_tampered_and_foreign_cursors_are_refused(
    api: Client, tenant_name: Callable[[str], str], stats: Stats
) -> None:
    # given: a real cursor of one tenant's walk
    client = api.for_tenant(tenant_name("cursor"))
    for _ in range(3):
        assert client.create(new_key()).status == 201
    cursor = client.list("limit=1").json["nextCursor"]
    assert cursor

    # when / then: each single-character change, another tenant, another filter
    attempts = [
        cursor[:i] + ("A" if c != "A" else "B") + cursor[i + 1 :] for i, c in enumerate(cursor)
    ]
    for tampered in attempts:
        assert_refused(client.list(f"limit=1&cursor={quote(tampered)}"), 400)
    assert_refused(api.for_tenant(tenant_name("other")).list(f"cursor={quote(cursor)}"), 400)
    assert_refused(client.list(f"status=closed&cursor={quote(cursor)}"), 400)
    stats.add("hostile_inputs", len(attempts) + 2)


query_pieces = st.lists(
    st.tuples(
        st.sampled_from(["limit", "cursor", "status", "x", "limit[]", "", "%ff", "status%00"]),
        st.one_of(
            st.integers(min_value=-(10**40), max_value=10**40).map(str),
            st.sampled_from(
                [
                    "",
                    "draft",
                    "closed",
                    "nope",
                    "1e3",
                    "0x10",
                    "NaN",
                    "%ff%fe",
                    "%00",
                    "%CE%A9",
                    "+",
                ]
            ),
            st.text(max_size=30).map(lambda t: quote(t, safe="")),
        ),
    ),
    max_size=5,
)


@FUZZ
@given(pieces=query_pieces)
def test_query_string(
    draft: tuple[Client, str], stats: Stats, pieces: list[tuple[str, str]]
) -> None:
    stats.add("hostile_inputs")
    client, _ = draft
    reply = client.list("&".join(f"{name}={value}" for name, value in pieces))
    assert reply.status in (200, 400), reply.describe()
    assert_sane(reply)


@FUZZ
@given(total=json_values, wrap=st.booleans())
def test_confirm_bodies(
    draft: tuple[Client, str],
    stats: Stats,
    unchanged: Callable[[], None],
    total: object,
    wrap: bool,
) -> None:
    assume(not (type(total) is int and 0 <= total <= 2_147_483_647))
    stats.add("hostile_inputs")
    client, order_id = draft
    body = json.dumps({"totalCents": total} if wrap else total)
    headers: dict[str, str | bytes] = {"If-Match": "1", "Content-Type": "application/json"}
    reply = client.request("PATCH", f"/orders/{order_id}/confirm", headers=headers, body=body)
    assert_refused(reply, 400)
    unchanged()


@FUZZ
@given(
    body=st.binary(max_size=2000),
    content_type=st.sampled_from(
        [
            "application/json",
            "application/x-www-form-urlencoded",
            "text/plain",
            "application/json; charset=latin-1",
            "application/json; charset=nope",
            "multipart/form-data",
            "application/problem+json",
        ]
    ),
)
def test_raw_bodies(
    draft: tuple[Client, str],
    stats: Stats,
    unchanged: Callable[[], None],
    body: bytes,
    content_type: str,
) -> None:
    stats.add("hostile_inputs")
    client, order_id = draft
    reply = client.request(
        "PATCH", f"/orders/{order_id}/confirm",
        headers={"If-Match": "1", "Content-Type": content_type}, body=body,
    )  # fmt: skip
    assume(reply.status != 200)  # a random body that is a valid confirm is not hostile
    assert_refused(reply, 400, 413, 415)
    unchanged()


SPECIAL_BODIES = {
    "deep nesting": b"[" * 100_000 + b"]" * 100_000,
    "deep objects": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    "huge number": b'{"totalCents": 1' + b"0" * 5000 + b"}",
    "huge float": b'{"totalCents": 1e999999}',
    "negative zero float": b'{"totalCents": -0.0}',
    "NaN": b'{"totalCents": NaN}',
    "Infinity": b'{"totalCents": Infinity}',
    "invalid utf-8": b'{"totalCents": "\xff\xfe"}',
    "truncated utf-8": b'{"totalCents": 1, "x": "\xe2\x82"}',
    "utf-16 bom": '{"totalCents": 1}'.encode("utf-16"),
    "lone surrogate": b'{"totalCents": "\\ud800"}',
    "duplicate keys": b'{"totalCents": 1, "totalCents": "x"}',
    "array": b"[1, 2, 3]",
    "string": b'"totalCents"',
    "null": b"null",
    "oversized": b'{"totalCents": 1, "pad": "' + b"x" * (MAX_BODY + 10) + b'"}',
    "oversized whitespace": b" " * (MAX_BODY + 1) + b'{"totalCents": 1}',
    "nul bytes": b'{"totalCents": 1\x00}',
}


# Objects whose only oddity is in a field create ignores: a valid create (201), and a
# refused confirm, as "totalCents" is not an integer in range. A member named twice is
# malformed JSON to both.
VALID_CREATE_BODIES = {"huge float", "negative zero float", "lone surrogate"}


@pytest.mark.parametrize("name", sorted(SPECIAL_BODIES))
def test_special_bodies(
    draft: tuple[Client, str], stats: Stats, sql: psycopg.Connection, name: str
) -> None:
    stats.add("hostile_inputs")
    client, order_id = draft
    before = snapshot(sql)
    json_headers = {"Content-Type": "application/json"}

    confirm = client.request(
        "PATCH", f"/orders/{order_id}/confirm", headers={**json_headers, "If-Match": "1"},
        body=SPECIAL_BODIES[name],
    )  # fmt: skip
    create = client.request(
        "POST", "/orders", headers={**json_headers, "Idempotency-Key": new_key()},
        body=SPECIAL_BODIES[name],
    )  # fmt: skip

    assert_refused(confirm, 400, 413, 415)
    if name in VALID_CREATE_BODIES:
        assert create.status == 201, create.describe()
        orders, versions, events, keys = before
        assert snapshot(sql) == (orders + 1, versions + 1, events, keys + 1)
    else:
        assert_refused(create, 400, 413, 415)
        assert snapshot(sql) == before


@FUZZ
@given(order_id=st.text(min_size=1, max_size=80))
def test_order_ids(draft: tuple[Client, str], stats: Stats, order_id: str) -> None:
    stats.add("hostile_inputs")
    client, _ = draft
    path = f"/orders/{quote(order_id.encode('utf-8', 'surrogatepass'), safe='')}"
    assert_refused(client.request("GET", path), 404)
    reply = client.request("POST", f"{path}/close")
    assert_sane(reply)
    assert reply.status in (404, 405), reply.describe()


# Requests whose Host gunicorn passes on and the app refuses (the suite's server allows
# 127.0.0.1, localhost, x and test).
BAD_HOSTS = {
    "a host not allowed": b"Host: evil.example\r\n",
    "a host that only ends like one": b"Host: evil.localhost\r\n",
    "an empty host": b"Host:\r\n",
    "HTTP/1.1 without a host": b"",
}


def log_lines_of(server: Server, request_id: str, timeout: float = 10) -> list[dict[str, object]]:
    """The app's log records (JSON lines) of one request, once the first has arrived."""
    deadline = time.monotonic() + timeout
    while True:
        text = server.log_path.read_text(errors="replace")
        lines = [json.loads(line) for line in text.splitlines() if request_id in line]
        if lines or time.monotonic() > deadline:
            return lines
        time.sleep(0.1)


@pytest.mark.parametrize("host", BAD_HOSTS.values(), ids=BAD_HOSTS.keys())
def test_a_bad_host_is_a_bad_request_logged_as_one_warning(
    server: Server, stats: Stats, host: bytes
) -> None:
    # given: a request id to find the request's log lines by
    stats.add("hostile_inputs")
    request_id = f"bad-host-{uuid.uuid4().hex}"

    # when
    answer = exchange(
        server.port,
        b"GET /orders HTTP/1.1\r\n" + host + b"X-Tenant-Id: t\r\n"
        b"X-Request-ID: " + request_id.encode() + b"\r\nConnection: close\r\n\r\n",
    )

    # then: 400 problem+json, and one WARNING line without a traceback (no ERROR)
    status, head, body = split_answer(answer)
    assert status == 400, answer[:500]
    assert b"content-type: application/problem+json" in head.lower()
    assert b'"code": "bad_request"' in body  # sent chunked, so not parsed whole here
    time.sleep(0.2)  # Django would log its ERROR before the response: it would be here
    records = [r for r in log_lines_of(server, request_id) if r["logger"] != "orders.access"]
    assert [(r["level"], r["logger"]) for r in records] == [
        ("WARNING", "orders_project.problems")
    ], records
    assert "exc_info" not in records[0], records
    assert len(json.dumps(records[0])) < 1000
