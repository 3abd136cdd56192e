"""Reading PostgreSQL plans: which queries touch the large tables, and how they read them.

Used by the admin's plan test (test_large_admin.py).
"""

import json
from collections.abc import Iterable, Iterator
from typing import Any

from django.db import connection

LARGE_TABLES = frozenset({"orders", "outbox", "idempotency_keys"})


def large_table_queries(
    queries: Iterable[dict[str, Any]], *, verbs: tuple[str, ...] = ("SELECT",)
) -> Iterator[str]:
    """The statements among CaptureQueriesContext's queries that touch a large table."""
    for query in queries:
        sql = query["sql"].strip()
        touches = any(f'"{table}"' in sql or f" {table} " in sql for table in LARGE_TABLES)
        if sql.upper().startswith(verbs) and touches:
            yield sql


def executed_plan(sql: str, *, buffers: bool = False) -> dict[str, Any]:
    """The plan of `sql` as it ran (EXPLAIN ANALYZE): runs the statement once more.

    With `buffers`, each node also counts the pages it touched (blocks_touched).
    """
    return _explain("ANALYZE, BUFFERS, FORMAT JSON" if buffers else "ANALYZE, FORMAT JSON", sql)


def blocks_touched(plan: dict[str, Any]) -> int:
    """Pages (index and table, cached or read) a plan executed with `buffers` touched.

    Unlike its rows, this counts index entries a scan stepped over without returning
    them: a scan that starts short of where its rows begin touches more pages.
    """
    return int(plan["Shared Hit Blocks"] + plan["Shared Read Blocks"])


def planned(sql: str) -> dict[str, Any]:
    """The plan PostgreSQL would run `sql` with (plain EXPLAIN: a write is not executed)."""
    return _explain("FORMAT JSON", sql)


def seq_scans(plan: dict[str, Any]) -> set[str]:
    """The large tables a plan reads with a sequential scan."""
    return {
        node["Relation Name"]
        for node in nodes(plan)
        if node["Node Type"] == "Seq Scan" and node.get("Relation Name") in LARGE_TABLES
    }


def _explain(options: str, sql: str) -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN ({options}) {sql}")
        (raw,) = cursor.fetchone()
    plan: dict[str, Any] = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
    return plan


def nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A plan node and every node beneath it."""
    yield node
    for child in node.get("Plans", []):
        yield from nodes(child)


def rows_handled(node: dict[str, Any]) -> int:
    """Rows a node produced plus those its filter threw away, over all its loops."""
    loops: int = node.get("Actual Loops", 1)
    return (node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)) * loops


def plan_problems(plan: dict[str, Any], *, row_limit: int) -> list[str]:
    """Sequential scans of a large table, and nodes handling more than `row_limit` rows."""
    problems = [f"Seq Scan on {table}" for table in sorted(seq_scans(plan))]
    for node in nodes(plan):
        kind = node["Node Type"]
        # A bitmap index scan's rows are index entries, dead ones included (rows rolled
        # back by earlier tests, until a vacuum); the heap scan above it counts the rows.
        if kind in ("Seq Scan", "Bitmap Index Scan"):
            continue
        if (read := rows_handled(node)) > row_limit:
            where = node.get("Index Name") or node.get("Relation Name") or "-"
            problems.append(f"{kind} ({where}) handled {read} rows")
    return problems
