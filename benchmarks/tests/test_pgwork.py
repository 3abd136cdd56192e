"""WorkMeter: what PostgreSQL did in a run, counted whole though connections stay open."""

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from benchmarks.pgwork import WorkMeter
from benchmarks.report import _work
from faults.stack import Database, GivenDatabase
from orders_project.tests import database_url


@pytest.fixture
def scratch_database() -> Iterator[Database]:
    """A database of its own on the test server: the meter ends its other sessions."""
    name = f"pgwork_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(database_url("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield GivenDatabase(database_url(name), env={})
    finally:
        with psycopg.connect(database_url("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def test_a_persistent_connections_transactions_buffers_and_wal_are_all_counted(
    scratch_database: Database,
) -> None:
    # given
    with scratch_database.connect() as setup:
        setup.execute("CREATE TABLE t (n int PRIMARY KEY)")

    # when: a connection that stays open, as the app's pooled ones do, commits 300
    # inserts within the run and then sits idle
    with WorkMeter(scratch_database) as work:
        kept = scratch_database.connect()
        for n in range(300):
            kept.execute("INSERT INTO t VALUES (%s)", [n])

    # then: all of them are counted (a few more: the meter's own readings, autovacuum's),
    # though an idle backend would have reported only those of its last flush
    done = work.done
    assert 300 <= done.transactions <= 320
    assert done.wal_records >= 300
    assert done.wal_bytes > 300 * 50
    assert done.buffers >= 300
    # and the kept connection was ended for that: the next statement finds it gone
    with pytest.raises(psycopg.OperationalError):
        kept.execute("SELECT 1")
    kept.close()


def _run(requests: int, buffers: int) -> dict[str, object]:
    work = {"transactions": requests, "buffers": buffers, "wal_records": 0, "wal_fpi": 0}
    return {"requests": requests, "transactions": requests, "pg_work": {**work, "wal_bytes": 0}}


def test_the_report_flags_an_operation_whose_statements_ran_on_another_plan() -> None:
    # given: create touched seven times the ceiling's buffers (the empty-table plan of
    # the fifth round), get a few more than its ceiling
    results = {
        "operations": {
            "create": {"title": "create", "app": _run(100, 23_700), "ceiling": _run(1000, 31_000)},
            "get": {"title": "get", "app": _run(100, 660), "ceiling": _run(1000, 4_000)},
        }
    }

    # when
    lines = _work(results)

    # then
    create = next(line for line in lines if line.startswith("| create |"))
    get = next(line for line in lines if line.startswith("| get |"))
    assert "237.0 / 31.0 ✗" in create
    assert "✗" not in get
    assert any(line.startswith("✗: more than twice") for line in lines)
