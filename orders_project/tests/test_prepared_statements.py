"""Prepared statements: the request path's statements are prepared, and the plans they
run with go straight to the right index.

Two guards. The statements are written so that even a plan made without their values (a
generic plan) goes to its index: `... WHERE tenant_id = $1 AND key = $2 ORDER BY id
LIMIT 1` would walk the whole primary key. And a warm connection keeps index plans as
the tables grow: a generic plan keeps the shape the tables had when it was made, so the
settings have every execution planned with its values (plan_cache_mode).
"""

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from idempotency.repository import IdempotencyKeyRepository, StoredResponse
from orders.repository import Keyset, OrderFilters, OrderRepository
from orders.tests.factories import OrderFactory
from outbox.repository import RelayQueue
from tenancy.repository import AccessRepository

BASE_DIR = Path(settings.BASE_DIR)


# The index a scan must use, or the indexes any of which will do.
type _Allowed = str | tuple[str, ...]


def _numbered(sql: str) -> str:
    """The driver's %s and %(name)s placeholders as $1, $2, … (PREPARE's)."""
    counter = iter(range(1, 100))
    return re.sub(r"%(\(\w+\))?s", lambda _: f"${next(counter)}", sql)


def _generic_plan(sql: str) -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        cursor.execute(f"PREPARE probe AS {_numbered(sql)}")
        nulls = ", ".join(["NULL"] * len(re.findall(r"%(\(\w+\))?s", sql)))
        cursor.execute(f"EXPLAIN (FORMAT JSON) EXECUTE probe({nulls})")
        (plan,) = cursor.fetchone()
        cursor.execute("DEALLOCATE probe")
    return (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(node for child in plan.get("Plans", []) for node in _nodes(child))]


@pytest.fixture
def many_rows() -> None:
    """Enough rows of several tenants that an index walk and a lookup differ in cost;
    one order in fifty confirmed, so walking all orders to find those would cost."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO orders (id, tenant_id, status, version, total_cents, created_at,"
            " updated_at) SELECT gen_random_uuid(), 't-' || (n % 20),"
            " CASE WHEN n % 50 = 0 THEN 'confirmed' ELSE 'draft' END, 1,"
            " CASE WHEN n % 50 = 0 THEN 100 END,"
            " now() - n * interval '1 second', now() FROM generate_series(1, 20000) AS n"
        )
        cursor.execute(
            "INSERT INTO idempotency_keys (tenant_id, key, fingerprint, response_headers,"
            " created_at, expires_at) SELECT 't-' || (n % 20), 'k-' || n, 'f', '{}', now(),"
            " now() + interval '1 day' FROM generate_series(1, 20000) AS n"
        )
        # Most events published long ago, a few pending: the relay's usual queue.
        cursor.execute(
            "INSERT INTO outbox (id, tenant_id, aggregate_type, aggregate_id, event_type,"
            " payload, created_at, published_at, attempts, last_error)"
            " SELECT gen_random_uuid(), 't-1', 'order', gen_random_uuid(), 'orders.closed',"
            " '{}', now(), CASE WHEN n % 20 = 0 THEN NULL ELSE now() END, 0, ''"
            " FROM generate_series(1, 20000) AS n"
        )
        # API keys (TENANT_AUTH_MODE=api-key looks one up on every request), a few revoked.
        cursor.execute(
            "INSERT INTO api_keys (id, tenant_id, name, prefix, digest, created_at,"
            " revoked_at) SELECT gen_random_uuid(), 't-' || (n % 20), 'k', 'ok_' || n, 'd',"
            " now(), CASE WHEN n % 10 = 0 THEN now() END FROM generate_series(1, 5000) AS n"
        )
        cursor.execute("ANALYZE orders")
        cursor.execute("ANALYZE idempotency_keys")
        cursor.execute("ANALYZE outbox")
        cursor.execute("ANALYZE api_keys")


class _Statements:
    """The SQL a block sends, as the driver gets it (with %s placeholders)."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        self.sent.append(sql)
        return execute(sql, params, many, context)


def _sent(call: Callable[[], object]) -> str:
    """The one statement `call` sends."""
    statements = _Statements()
    with connection.execute_wrapper(statements):
        call()
    (sql,) = statements.sent
    return sql


def _request_path() -> list[tuple[str, list[_Allowed]]]:
    """Each statement every keyed write, read and list page sends, with its index."""
    order_id = uuid.uuid4()
    at = Keyset(created_at=timezone.now(), id=order_id)
    keys = IdempotencyKeyRepository(tenant_id="t-1")
    orders = OrderRepository(tenant_id="t-1")
    response = StoredResponse(status=201, headers={}, body=b"{}")
    by_status = {None: "orders_tenant_created_id_idx", "draft": "orders_tenant_status_idx"}
    # A page back reads the index twice in one statement: upwards, and one row down.
    pages: list[tuple[str, list[_Allowed]]] = [
        (
            _sent(partial(orders.page, OrderFilters(status=status), limit=20, **way)),
            [index] * (2 if "before" in way else 1),
        )
        for status, index in by_status.items()
        for way in ({}, {"after": at}, {"before": at})
    ]
    return [
        (_sent(lambda: keys.find_live("k")), ["idempotency_keys_tenant_key_uniq"]),
        (_sent(lambda: keys.complete("k", response)), ["idempotency_keys_tenant_key_uniq"]),
        (_sent(lambda: orders.get(order_id)), ["orders_pkey"]),
        (_sent(lambda: orders.get_for_update(order_id)), ["orders_pkey"]),
        (
            _sent(
                lambda: orders.compare_and_set(
                    order_id,
                    expected_version=1,
                    expected_status="draft",
                    status="confirmed",
                    updated_at=timezone.now(),
                )
            ),
            ["orders_pkey"],
        ),
        # The API-key lookup (TENANT_AUTH_MODE=api-key), on a unique prefix: either index
        # on prefix will do, the unique one or Django's for LIKE (equality too).
        (
            _sent(lambda: AccessRepository().live_key("ok_1")),
            [("api_keys_prefix_key", "api_keys_prefix_8bd1f38a_like")],
        ),
        # The relay's claim: the pending events in order, each checked for an earlier one.
        (
            _sent(lambda: RelayQueue().claim(limit=100, now=timezone.now())),
            ["outbox_pending_idx", "outbox_unpublished_agg_idx"],
        ),
        *pages,
    ]


@pytest.mark.django_db(transaction=False)
@pytest.mark.usefixtures("many_rows")
def test_generic_plans_of_the_request_path_use_their_index() -> None:
    # given: the statements every keyed write, read and list page sends, and the relay's
    for sql, indexes in _request_path():
        # when: PostgreSQL plans each without its values, as for a prepared statement
        nodes = _nodes(_generic_plan(sql))

        # then: straight to the index, nothing sorted
        scans = [node for node in nodes if "Scan" in node["Node Type"]]
        used = [node.get("Index Name") for node in scans]
        assert len(used) == len(indexes), (sql, scans)
        for name, allowed in zip(used, indexes, strict=True):
            assert name in (allowed if isinstance(allowed, tuple) else (allowed,)), sql
        assert not any(node["Node Type"] == "Sort" for node in nodes), sql


@pytest.mark.django_db(transaction=False)
def test_a_statement_run_a_few_times_on_a_connection_is_prepared() -> None:
    # given
    repository = IdempotencyKeyRepository(tenant_id="t-1")

    # when: psycopg prepares a statement once the connection has run it five times
    for _ in range(6):
        assert repository.find_live("no-such-key") is None

    # then
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements"
            " WHERE statement LIKE '%%FROM idempotency_keys%%' AND NOT from_sql"
        )
        (prepared,) = cursor.fetchone()
    assert prepared == 1


def _connection_settings(**env: str) -> dict[str, Any]:
    """What a fresh process's settings give psycopg.connect() (no connection made)."""
    script = (
        "import json; from django.db import connection;"
        " p = connection.get_connection_params();"
        " print(json.dumps([p['prepare_threshold'], p['cursor_factory'].__name__]))"
    )
    result = subprocess.run(  # noqa: S603 (our own manage.py)
        [sys.executable, str(BASE_DIR / "manage.py"), "shell", "-c", script],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
        cwd=BASE_DIR,
    )
    threshold, cursor = json.loads(result.stdout.strip().splitlines()[-1])
    return {"prepare_threshold": threshold, "cursor": cursor}


def test_prepared_statements_are_on_unless_switched_off_for_a_pooler() -> None:
    # when / then: on by default; DB_PREPARED_STATEMENTS=false gives Django's defaults
    assert _connection_settings() == {"prepare_threshold": 5, "cursor": "ServerBindingCursor"}
    assert _connection_settings(DB_PREPARED_STATEMENTS="false") == {
        "prepare_threshold": None,
        "cursor": "Cursor",
    }


# A value of each parameter type the request path's statements take, as SQL.
_SAMPLE = {
    "text": "'t-grow'",
    "character varying": "'t-grow'",
    "uuid": "gen_random_uuid()",
    "timestamp with time zone": "now()",
    "integer": "1",
    "bigint": "1",
    "smallint": "201",
    "jsonb": "'{}'::jsonb",
    "bytea": "''::bytea",
}


def _plan_in_use(statement: str) -> list[dict[str, Any]]:
    """The plan this connection runs its prepared `statement` with (the plan cache
    decides, as for a real execution), with a sample value for each parameter."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name, parameter_types::text[] FROM pg_prepared_statements"
            " WHERE statement = %s AND NOT from_sql",
            [_numbered(statement)],
        )
        rows = cursor.fetchall()
        assert len(rows) == 1, f"not prepared on this connection: {statement}"
        ((name, types),) = rows
        values = ", ".join(_SAMPLE[t] for t in types)
        cursor.execute(f"EXPLAIN (FORMAT JSON) EXECUTE {name}({values})")
        (plan,) = cursor.fetchone()
    return _nodes((json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"])


@pytest.mark.django_db(transaction=True)
def test_a_warm_connection_keeps_its_statements_on_their_index_as_the_tables_grow() -> None:
    # given: a connection that ran the request path's statements often enough to have
    # them prepared (psycopg) and planned from the cache (PostgreSQL) while the tenant
    # had five orders and the tables next to nothing, as a new service has (and its
    # statistics said so; FULL drops the dead rows earlier tests left)
    for _ in range(5):
        OrderFactory.create(tenant_id="t-grow")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM FULL ANALYZE orders")
        cursor.execute("VACUUM FULL ANALYZE idempotency_keys")
    keys = IdempotencyKeyRepository(tenant_id="t-grow")
    orders = OrderRepository(tenant_id="t-grow")
    order_id = uuid.uuid4()

    def locked() -> None:
        with transaction.atomic():
            orders.get_for_update(order_id)

    calls: list[Callable[[], object]] = [
        lambda: keys.find_live("k"),
        lambda: orders.get(order_id),
        locked,
        lambda: orders.page(OrderFilters(), limit=20),
        lambda: orders.page(OrderFilters(status="draft"), limit=20),
    ]
    statements = [_sent(call) for call in calls]
    for _ in range(12):
        for call in calls:
            call()

    # when: the tenant gains 40,000 orders and the keys table as many rows at once (an
    # import, a busy hour), and no ANALYZE has run since
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO orders (id, tenant_id, status, version, created_at, updated_at)"
            " SELECT gen_random_uuid(), 't-grow', 'draft', 1,"
            " now() - n * interval '1 millisecond', now() FROM generate_series(1, 40000) n"
        )
        cursor.execute(
            "INSERT INTO idempotency_keys (tenant_id, key, fingerprint, response_headers,"
            " created_at, expires_at) SELECT 't-grow', 'k-' || n, 'f', '{}', now(),"
            " now() + interval '1 day' FROM generate_series(1, 40000) AS n"
        )

    # then: the plans the connection now runs each statement with go by index, unsorted
    # (a generic plan made while the tables were small scans and sorts them whole)
    plans = {}
    for statement in statements:
        kinds = [node["Node Type"] for node in _plan_in_use(statement)]
        plans[statement] = [kind for kind in kinds if "Scan" in kind or kind == "Sort"]
    assert plans == {statement: ["Index Scan"] for statement in statements}
