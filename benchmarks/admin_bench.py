"""Admin and ops-command benchmark at production size (10M orders by default).

    make bench-admin                                   # seed if needed, time the pages
    make bench-admin BENCH_ARGS='--ops'                # and the ops commands (changes data)
    make bench-admin BENCH_ARGS='--orders 200000 --keys 20000 --tenants 400'   # smaller

The database is DATABASE_URL, or an embedded PostgreSQL of its own in
.bench/admin-pgdata (ignored by git), kept between runs: seeding ten million orders
takes a while, so it is done once and topped up to the asked size on later runs.

1. Seeds with `seed_orders` up to --orders orders over --tenants tenants (with their
   outbox events) and --keys idempotency keys (half expired), then VACUUM ANALYZEs.
2. Times each admin page an operator opens, in process through Django's test client as
   a superuser, one request at a time after a warm-up: median and slowest of --repeats,
   and the time its SQL took (the rest is Django building and rendering the page).
   Each page's queries on the large tables are run again under EXPLAIN ANALYZE: the
   report names any sequential scan and the most rows one plan node handled.
3. With --ops, times outbox_status, outbox_requeue --all (after parking --dead events),
   outbox_prune and purge_idempotency_keys, while another connection creates, confirms
   and closes orders; it reports the writer's slowest cycle and the strongest lock the
   command held on each table (sampled from pg_locks).

The report is printed and kept in benchmarks/results/admin-run.md (ignored by git).
"""

import argparse
import os
import platform
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orders_project.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("ACCESS_LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, connections  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from idempotency.models import IdempotencyKey  # noqa: E402
from orders import services  # noqa: E402
from orders.models import Order  # noqa: E402
from orders_project.tests.plans import (  # noqa: E402
    LARGE_TABLES,
    executed_plan,
    large_table_queries,
    nodes,
    rows_handled,
    seq_scans,
)
from outbox.models import OutboxEvent  # noqa: E402

RESULTS = BASE_DIR / "benchmarks" / "results" / "admin-run.md"
WRITER_TENANT = "bench-admin-writer"
# Lock modes in increasing strength; the API's own writes take RowExclusiveLock, which
# conflicts only with Share and stronger.
LOCK_MODES = (
    "AccessShareLock",
    "RowShareLock",
    "RowExclusiveLock",
    "ShareUpdateExclusiveLock",
    "ShareLock",
    "ShareRowExclusiveLock",
    "ExclusiveLock",
    "AccessExclusiveLock",
)


def log(message: str) -> None:
    sys.stderr.write(f"[admin-bench] {message}\n")
    sys.stderr.flush()


def row_count(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT count(*) FROM "{table}"')  # noqa: S608 - a fixed name
        (count,) = cursor.fetchone()
    return int(count)


def seed(args: argparse.Namespace) -> None:
    """Top the tables up to the asked size with seed_orders, then refresh statistics."""
    call_command("migrate", "--noinput", verbosity=0)
    orders = args.orders - row_count("orders")
    keys = args.keys - row_count("idempotency_keys")
    if orders > 0 or keys > 0:
        log(f"seeding {max(orders, 0):,} orders and {max(keys, 0):,} idempotency keys")
        call_command(
            "seed_orders",
            f"--tenants={args.tenants}",
            f"--orders={max(orders, 0)}",
            f"--idempotency-keys={max(keys, 0)}",
            f"--seed={int(time.time())}",
            stdout=sys.stderr,
        )
    # As autovacuum would leave them: statistics fresh, the visibility map set.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE orders, outbox, idempotency_keys")


def pages() -> Iterator[tuple[str, str, dict[str, str]]]:
    """(title, path, query) of every page an operator opens, with real ids."""
    tenant = "tenant-2"
    order = Order.objects.filter(tenant_id=tenant, status="closed").latest("created_at")
    event = OutboxEvent.objects.filter(aggregate_id=order.pk).get()
    key = IdempotencyKey.objects.filter(tenant_id=tenant).latest("expires_at")
    orders, events, keys = (
        "/admin/orders/order/",
        "/admin/outbox/outboxevent/",
        "/admin/idempotency/idempotencykey/",
    )
    yield "order list", orders, {}
    yield "order list, page 50", orders, {"p": "50"}
    yield "order list, one tenant", orders, {"tenant_id": tenant}
    yield "order list, status closed", orders, {"status__exact": "closed"}
    yield (
        "order list, one tenant, status draft",
        orders,
        {"tenant_id": tenant, "status__exact": "draft"},
    )
    yield (
        "order list, created this month",
        orders,
        {"created_at__gte": month_start(), "created_at__lt": "2100-01-01 00:00:00+00:00"},
    )
    yield "order search, exact id", orders, {"q": str(order.pk)}
    yield "order search, tenant", orders, {"q": tenant}
    yield "one order with its events", f"{orders}{order.pk}/change/", {}
    yield "outbox list", events, {}
    yield "outbox list, pending", events, {"state": "pending"}
    yield "outbox list, published", events, {"state": "published"}
    yield "outbox list, dead", events, {"state": "dead"}
    yield "outbox list, one tenant", events, {"tenant_id": tenant}
    yield "outbox search, event id", events, {"q": str(event.pk)}
    yield "outbox search, aggregate id", events, {"q": str(order.pk)}
    yield "outbox search, tenant", events, {"q": tenant}
    yield "one outbox event", f"{events}{event.pk}/change/", {}
    yield "key list", keys, {}
    yield "key list, expired", keys, {"expired": "yes"}
    yield "key list, live", keys, {"expired": "no"}
    yield "key list, one tenant", keys, {"tenant_id": tenant}
    yield "key search, tenant/key", keys, {"q": f"{tenant}/{key.key}"}
    yield "key search, key in a tenant's list", keys, {"tenant_id": tenant, "q": key.key}
    yield "key search, tenant", keys, {"q": tenant}
    yield "one key", f"{keys}{key.pk}/change/", {}


def month_start() -> str:
    now = datetime.now(UTC)
    return str(now.replace(day=1, hour=0, minute=0, second=0, microsecond=0))


def admin_client() -> Client:
    user, _ = get_user_model().objects.get_or_create(
        username="bench-admin", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(user)
    return client


def time_pages(repeats: int, only: list[str]) -> list[dict[str, object]]:
    client = admin_client()
    rows = []
    for title, path, query in pages():
        if only and title not in only:
            continue
        client.get(path, query)  # warm-up: caches, and the page is known to work
        timings = []
        for _ in range(repeats):
            started = time.perf_counter()
            response = client.get(path, query)
            timings.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"{title}: {path} {query} answered {response.status_code}")
        with CaptureQueriesContext(connection) as captured:
            client.get(path, query)
        scanned: set[str] = set()
        most_rows = 0
        for sql in large_table_queries(captured.captured_queries):
            plan = executed_plan(sql)
            scanned |= seq_scans(plan)
            most_rows = max(most_rows, *(rows_handled(node) for node in nodes(plan)))
        row = {
            "page": title,
            "median_ms": statistics.median(timings),
            "max_ms": max(timings),
            "sql_ms": sum(float(query["time"]) for query in captured.captured_queries) * 1000,
            "queries": len(captured.captured_queries),
            "seq_scans": ", ".join(sorted(scanned)) or "none",
            "most_rows": most_rows,
        }
        log(f"{title}: median {row['median_ms']:.1f} ms, max {row['max_ms']:.1f} ms")
        rows.append(row)
    return rows


# ------------------------------------------------------------------------ ops commands


class Writer(threading.Thread):
    """Creates, confirms and closes orders on its own connection; records each cycle."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.stop = threading.Event()
        self.cycles: list[float] = []

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                started = time.perf_counter()
                order = services.order_create(tenant_id=WRITER_TENANT)
                services.order_confirm(
                    tenant_id=WRITER_TENANT, order_id=order.pk, total_cents=100, expected_version=1
                )
                services.order_close(
                    tenant_id=WRITER_TENANT, order_id=order.pk, expected_version=2
                )
                self.cycles.append((time.perf_counter() - started) * 1000)
                time.sleep(0.01)
        finally:
            connections.close_all()


class LockWatch(threading.Thread):
    """Samples pg_locks for the strongest table lock a backend holds on the large tables.

    The API's writes take RowExclusiveLock: a command holding no more than that (row
    locks are not table locks) never makes a request wait for the table.
    """

    def __init__(self, backend_pid: int) -> None:
        super().__init__(daemon=True)
        self.backend_pid = backend_pid
        self.stop = threading.Event()
        self.strongest: dict[str, str] = {}

    def run(self) -> None:
        try:
            with connection.cursor() as cursor:
                while not self.stop.is_set():
                    cursor.execute(
                        "SELECT c.relname, l.mode FROM pg_locks l "
                        "JOIN pg_class c ON c.oid = l.relation "
                        "WHERE l.pid = %s AND l.granted AND l.locktype = 'relation' "
                        "AND c.relname = ANY(%s)",
                        [self.backend_pid, list(LARGE_TABLES)],
                    )
                    for table, mode in cursor.fetchall():
                        known = self.strongest.get(table, LOCK_MODES[0])
                        if LOCK_MODES.index(mode) >= LOCK_MODES.index(known):
                            self.strongest[table] = mode
                    time.sleep(0.02)
        finally:
            connections.close_all()


@contextmanager
def watched() -> Iterator[dict[str, object]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    writer, locks = Writer(), LockWatch(pid)
    writer.start()
    locks.start()
    result: dict[str, object] = {}
    try:
        yield result
    finally:
        writer.stop.set()
        locks.stop.set()
        writer.join()
        locks.join()
        result["writer_cycles"] = len(writer.cycles)
        result["writer_max_ms"] = max(writer.cycles, default=0.0)
        result["locks"] = ", ".join(f"{t}: {m}" for t, m in sorted(locks.strongest.items()))


def run_command(title: str, *args: str, before: Callable[[], None] | None = None) -> dict:
    if before is not None:
        before()
    out = StringIO()
    with watched() as result:
        started = time.perf_counter()
        call_command(*args, stdout=out, stderr=StringIO())
        result["seconds"] = time.perf_counter() - started
    result["command"] = title
    result["output"] = out.getvalue().strip().splitlines()[-1]
    log(f"{title}: {result['seconds']:.1f} s, {result['output']}")
    return result


class DeadEvents:
    """Published events turned back into dead ones for outbox_requeue, then restored.

    The newest ones, so that outbox_prune, run next, finds the old ones as seeded.
    """

    def __init__(self, count: int) -> None:
        self.count = count
        self.ids: list[uuid.UUID] = []

    def park(self) -> None:
        # Plain SQL: a bench fixture, an UPDATE of a LIMITed subquery the ORM cannot say.
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE outbox SET published_at = NULL, dead_at = now(), attempts = 10 "
                "WHERE id IN (SELECT id FROM outbox WHERE published_at IS NOT NULL "
                "ORDER BY sequence DESC LIMIT %s) RETURNING id",
                [self.count],
            )
            self.ids = [row[0] for row in cursor.fetchall()]

    def republish(self) -> None:
        """What the relay would do with them: mark them published again."""
        OutboxEvent.objects.filter(pk__in=self.ids).update(published_at=datetime.now(UTC))


def time_ops(args: argparse.Namespace) -> list[dict]:
    dead = DeadEvents(args.dead)
    results = [
        run_command("outbox_status", "outbox_status"),
        run_command(
            f"outbox_requeue --all ({args.dead:,} dead)",
            "outbox_requeue",
            "--all",
            "--no-progress",
            before=dead.park,
        ),
    ]
    dead.republish()
    results += [
        run_command(
            f"outbox_prune --older-than {args.prune_older_than}",
            "outbox_prune",
            f"--older-than={args.prune_older_than}",
            "--no-progress",
        ),
        run_command("purge_idempotency_keys", "purge_idempotency_keys", "--no-progress"),
    ]
    return results


# ---------------------------------------------------------------------------- report


def report(
    args: argparse.Namespace, sizes: dict[str, int], page_rows: list[dict], op_rows: list[dict]
) -> str:
    lines = [
        f"# Admin benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        (
            f"{sizes['orders']:,} orders over {args.tenants:,} tenants, {sizes['outbox']:,} "
            f"outbox events, {sizes['idempotency_keys']:,} idempotency keys; "
            f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"PostgreSQL {server_version()}. One request at a time, warm cache, "
            f"{args.repeats} timed runs per page."
        ),
        "",
        (
            "| page | median ms | slowest ms | of which SQL ms | queries | seq scans "
            "| most rows in a plan node |"
        ),
        "| --- | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    lines.extend(
        f"| {row['page']} | {row['median_ms']:.1f} | {row['max_ms']:.1f} | {row['sql_ms']:.1f} | "
        f"{row['queries']} | {row['seq_scans']} | {row['most_rows']:,} |"
        for row in page_rows
    )
    if op_rows:
        lines += [
            "",
            "| command | seconds | result | strongest lock held | API writer: cycles, max ms |",
            "| --- | ---: | --- | --- | ---: |",
        ]
        for row in op_rows:
            lines.append(
                f"| `{row['command']}` | {row['seconds']:.1f} | {row['output']} | "
                f"{row['locks'] or '-'} | {row['writer_cycles']}, {row['writer_max_ms']:.0f} |"
            )
    return "\n".join(lines) + "\n"


def server_version() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        (version,) = cursor.fetchone()
    return str(version)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=10_000_000)
    parser.add_argument("--tenants", type=int, default=20_000)
    parser.add_argument("--keys", type=int, default=1_000_000, help="Half live, half expired.")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--only",
        type=lambda value: value.split("|"),
        default=[],
        help="Page titles separated by '|' (as the report names them): time only those.",
    )
    parser.add_argument("--ops", action="store_true", help="Also time the ops commands.")
    parser.add_argument("--dead", type=int, default=10_000, help="Events parked for requeue.")
    parser.add_argument("--prune-older-than", default="85d")
    args = parser.parse_args()

    seed(args)
    sizes = {table: row_count(table) for table in ("orders", "outbox", "idempotency_keys")}
    page_rows = time_pages(args.repeats, args.only)
    op_rows = time_ops(args) if args.ops else []
    text = report(args, sizes, page_rows, op_rows)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    sys.stdout.write(text)
    log(f"written to {RESULTS.relative_to(BASE_DIR)}")


if __name__ == "__main__":
    main()
