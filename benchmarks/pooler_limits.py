"""What carrying the database limits through a transaction pooler costs, per transaction.

    scripts/with-db .venv/bin/python benchmarks/pooler_limits.py [--transactions N]

On a throwaway database (created and dropped here) of DATABASE_URL's server, with a
PgBouncer of its own in transaction mode (faults/pgbouncer.py), it times a transaction
of the request path's shape (BEGIN, one indexed read, COMMIT) in four ways, in
alternating rounds:

- direct: the limits as startup options (what the app does without a pooler);
- pgbouncer, role defaults: the limits as the role's defaults (`apply_db_limits`);
- pgbouncer, SET LOCAL: the limits sent at the start of every transaction instead;
- and, separately, a new connection through PgBouncer with and without the check of
  its session's limits that the app runs once per connection.

Prints microseconds per transaction (median of the rounds). A small measurement, not a
benchmark: run it on a quiet machine.
"""

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

# Run as a script from the checkout: the project's modules are importable from its root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from faults.pgbouncer import PgBouncer
from orders_project.db.limits import check_session, session_defaults

DB_NAME = "pooler_limits_bench"
LIMITS = session_defaults(
    lock_timeout="5s",
    statement_timeout="15s",
    idle_in_transaction_session_timeout="60s",
    prepared_statements=False,
)
OPTIONS = " ".join(f"-c {name}={value}" for name, value in LIMITS.items())
SET_LOCAL = "; ".join(f"SET LOCAL {name} = '{value}'" for name, value in LIMITS.items())
READ = "SELECT id FROM bench WHERE id = %s"
ROUNDS = 5


def timed(run: Callable[[], None], count: int) -> float:
    """Microseconds per call of `run`, over `count` calls."""
    started = time.perf_counter()
    for _ in range(count):
        run()
    return (time.perf_counter() - started) / count * 1e6


def transaction(conn: psycopg.Connection, *, set_local: bool) -> Callable[[], None]:
    def run() -> None:
        with conn.transaction():
            if set_local:
                conn.execute(SET_LOCAL)
            conn.execute(READ, [42]).fetchone()

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=2000, help="per round and way")
    args = parser.parse_args()
    server = psycopg.connect(
        make_conninfo(os.environ["DATABASE_URL"], dbname="postgres"), autocommit=True
    )
    server.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(DB_NAME)))
    server.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DB_NAME)))
    info = server.info
    bouncer = PgBouncer(host=info.host, port=info.port, user=info.user)
    direct_url = make_conninfo(host=info.host, port=info.port, user=info.user, dbname=DB_NAME)
    try:
        with psycopg.connect(direct_url, autocommit=True) as setup:
            setup.execute("CREATE TABLE bench (id bigint PRIMARY KEY)")
            setup.execute("INSERT INTO bench SELECT generate_series(1, 1000)")
            for name, value in LIMITS.items():
                setup.execute(
                    sql.SQL("ALTER ROLE CURRENT_USER IN DATABASE {} SET {} = {}").format(
                        sql.Identifier(DB_NAME), sql.Identifier(name), sql.Literal(value)
                    )
                )
        direct = psycopg.connect(direct_url, options=OPTIONS)
        pooled = psycopg.connect(bouncer.url(DB_NAME))
        ways = {
            "direct, limits as startup options": transaction(direct, set_local=False),
            "pgbouncer, limits as role defaults": transaction(pooled, set_local=False),
            "pgbouncer, SET LOCAL per transaction": transaction(pooled, set_local=True),
        }

        def connect(*, check: bool) -> Callable[[], None]:
            def run() -> None:
                with psycopg.connect(bouncer.url(DB_NAME)) as conn:
                    if check:
                        with conn.cursor() as cursor:
                            check_session(cursor, LIMITS)

            return run

        connects = {
            "new connection via pgbouncer": connect(check=False),
            "new connection via pgbouncer + session check": connect(check=True),
        }
        results: dict[str, list[float]] = {name: [] for name in [*ways, *connects]}
        for _ in range(ROUNDS):
            for name, run in ways.items():
                results[name].append(timed(run, args.transactions))
            for name, run in connects.items():
                results[name].append(timed(run, args.transactions // 20))
        for name, figures in results.items():
            print(f"{name:48} {statistics.median(figures):8.1f} µs")  # noqa: T201
        direct.close()
        pooled.close()
    finally:
        bouncer.close()
        server.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(DB_NAME)))
        server.close()


if __name__ == "__main__":
    main()
