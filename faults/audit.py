"""Audits in SQL of what the clients were told: the database must agree with every 2xx."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import psycopg


def orders_of(sql: psycopg.Connection, tenants: Iterable[str]) -> dict[str, tuple[str, str, int]]:
    """id -> (tenant, status, version) of every order of `tenants`."""
    rows = sql.execute(
        "SELECT id::text, tenant_id, status, version FROM orders WHERE tenant_id = ANY(%s)",
        [list(tenants)],
    ).fetchall()
    return {row[0]: (row[1], row[2], row[3]) for row in rows}


def orders_per_tenant(sql: psycopg.Connection, tenants: Iterable[str]) -> Counter[str]:
    rows = sql.execute(
        "SELECT tenant_id, count(*) FROM orders WHERE tenant_id = ANY(%s) GROUP BY tenant_id",
        [list(tenants)],
    ).fetchall()
    return Counter(dict(rows))


def outbox_events_per_order(sql: psycopg.Connection, tenants: Iterable[str]) -> Counter[str]:
    rows = sql.execute(
        "SELECT aggregate_id::text, count(*) FROM outbox "
        "WHERE tenant_id = ANY(%s) AND event_type = 'orders.closed' GROUP BY aggregate_id",
        [list(tenants)],
    ).fetchall()
    return Counter(dict(rows))


def keys_per_tenant(sql: psycopg.Connection, tenants: Iterable[str]) -> Counter[str]:
    rows = sql.execute(
        "SELECT tenant_id, count(*) FROM idempotency_keys WHERE tenant_id = ANY(%s) "
        "GROUP BY tenant_id",
        [list(tenants)],
    ).fetchall()
    return Counter(dict(rows))


def snapshot(sql: psycopg.Connection) -> tuple[int, ...]:
    """Row counts and a checksum of every table the API writes: equal means unchanged."""
    row = sql.execute(
        """
        SELECT (SELECT count(*) FROM orders),
               (SELECT coalesce(sum(version), 0) FROM orders),
               (SELECT count(*) FROM outbox),
               (SELECT count(*) FROM idempotency_keys)
        """
    ).fetchone()
    assert row is not None
    return tuple(int(value) for value in row)
