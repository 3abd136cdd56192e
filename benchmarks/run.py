"""API benchmark: every operation against its PostgreSQL ceiling, on the real stack.

    make bench                  # ~1.5M orders seeded, 10 s per operation
    make bench BENCH_QUICK=1    # smoke mode (what CI runs): small data, 2 s per operation

1. Starts a PostgreSQL of its own (BENCH_DATABASE_URL names a given one instead),
   migrates it and seeds it with `manage.py seed_orders`: a tenant of 1M orders for the
   depth runs and one for the load, with a day's worth of live idempotency keys.
2. Records the statements of each operation in process and compares them with its
   pgbench script; a script that drifted is reported, never a reason to stop.
3. Measures the floors (gunicorn alone, bare Django, the app's /healthz), then drives
   each operation with wrk against gunicorn and runs its pgbench script, the ceiling.
4. Times a page at several depths with our cursors and with LimitOffsetPagination.

Figures go to benchmarks/results/ (ignored by git): <name>.json, .md and .png, where
<name> is last-run or quick-run. The docs are updated by a person, on purpose.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from faults.stack import (  # noqa: E402
    Database,
    EmbeddedDatabase,
    Server,
    django_env,
    migrate,
    remove_tree,
    start_server,
)

WRK_DIR = BASE_DIR / "benchmarks" / "wrk"
PGBENCH_DIR = BASE_DIR / "benchmarks" / "pgbench"
RESULTS_DIR = BASE_DIR / "benchmarks" / "results"
DEEP_TENANT = "deep-1"
LOAD_TENANT = "load-1"
COUNT_TENANT = "count-1"
# Fits the 1.5M seeded orders and their indexes, so both sides read from memory.
SERVER_OPTIONS = "-c shared_buffers=512MB -c max_connections=100"
# Connections wrk keeps open and clients pgbench runs: the same load on both sides.
CONCURRENCY = 8


@dataclass(frozen=True)
class Mode:
    """How big and how long."""

    name: str
    deep_orders: int
    load_orders: int
    seconds: int
    depths: tuple[int, ...]
    depth_repeats: int
    live_keys: int  # completed idempotency keys of the load tenant, not yet expired


FULL = Mode("full", 1_000_000, 500_000, 10, (0, 10_000, 100_000, 999_000), 41, 100_000)
QUICK = Mode("quick", 20_000, 100_000, 2, (0, 1_000, 10_000, 19_000), 3, 20_000)


@dataclass(frozen=True)
class Operation:
    """One benchmarked request: its wrk script and the pgbench script of its SQL."""

    name: str
    title: str
    wrk_script: str
    pgbench_script: str


OPERATIONS = (
    Operation("create", "create, fresh key", "create.lua", "create.sql"),
    Operation("replay", "create, replayed key", "replay.lua", "replay.sql"),
    Operation("get", "get", "get.lua", "get.sql"),
    Operation(
        "get_not_modified",
        "get, If-None-Match (304)",
        "get_not_modified.lua",
        "get_not_modified.sql",
    ),
    Operation("confirm", "confirm (keyed)", "confirm.lua", "confirm.sql"),
    Operation("close", "close (keyed)", "close.lua", "close.sql"),
    Operation("list_first", "list, first page", "list.lua", "list_first.sql"),
    Operation("list_deep", "list, page at the deepest depth", "list.lua", "list_deep.sql"),
)


@dataclass(frozen=True)
class Floor:
    """A server answering `GET /healthz` with less behind it than the app."""

    key: str
    app: str | None  # the WSGI stand-in gunicorn serves; None: the app itself
    layer: str


FLOORS = (
    Floor("wsgi", "benchmarks.floor_wsgi:application", "gunicorn alone (`floor_wsgi.py`)"),
    Floor("django", "benchmarks.floor_django:application", "bare Django (`floor_django.py`)"),
    Floor("app", None, "the app's `/healthz` (every middleware, no SQL)"),
)


def log(message: str) -> None:
    """A progress line on stderr."""
    print(f"bench: {message}", file=sys.stderr, flush=True)


def git(*args: str, check: bool = True) -> str:
    """Run git in this checkout; its output."""
    return subprocess.run(
        ["git", *args], cwd=BASE_DIR, capture_output=True, text=True, check=check
    ).stdout.strip()


# --------------------------------------------------------------------------- tools


def find_wrk() -> str:
    """wrk on PATH, installed from Debian's packages when we can; else a loud failure."""
    found = shutil.which("wrk")
    if not found and os.geteuid() == 0 and shutil.which("apt-get"):
        log("wrk is missing: apt-get install -y wrk")
        subprocess.run(["apt-get", "update", "-qq"], check=False)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False)
        found = shutil.which("wrk")
    if not found:
        raise SystemExit(
            "bench: wrk (the HTTP load generator) is not installed. Install it with "
            "`sudo apt-get install wrk` (Debian/Ubuntu) or `brew install wrk` (macOS)."
        )
    return found


def find_pgbench() -> str:
    """pgbench from pgserver's PostgreSQL (same version as the server), else PATH."""
    import pgserver

    bundled = Path(pgserver.__file__).parent / "pginstall" / "bin" / "pgbench"
    found = str(bundled) if bundled.exists() else shutil.which("pgbench")
    if not found:
        raise SystemExit("bench: pgbench not found (it ships with PostgreSQL and pgserver).")
    return found


# ----------------------------------------------------------------------- database


class GivenBenchDatabase(Database):
    """BENCH_DATABASE_URL: a PostgreSQL somebody else runs (never stopped here)."""

    def __init__(self, url: str) -> None:
        self.url = url


def seed(database_url: str, mode: Mode) -> None:
    """Both tenants' orders through `manage.py seed_orders`, then the live keys."""
    for prefix, orders in (("deep-", mode.deep_orders), ("load-", mode.load_orders)):
        log(f"seeding {orders:,} orders for {prefix}1")
        command = f"manage.py seed_orders --tenants 1 --orders {orders} --tenant-prefix {prefix}"
        env = django_env(database_url)
        subprocess.run([sys.executable, *command.split()], cwd=BASE_DIR, env=env, check=True)
    seed_live_keys(database_url, mode.live_keys)


# Each key as a create leaves it: its fingerprint, the 201 with Location and ETag, and
# an order's JSON body (about the size of the real one); created over the last day.
_LIVE_KEYS = """
INSERT INTO idempotency_keys (tenant_id, key, fingerprint, response_status,
                              response_headers, response_body, created_at, expires_at)
SELECT %(tenant)s::text, gen_random_uuid()::text, md5(n::text) || md5(n::text), 201,
       jsonb_build_object('Content-Type', 'application/json',
                          'Location', '/orders/' || id, 'ETag', '"1"'),
       convert_to(json_build_object('id', id, 'tenantId', %(tenant)s::text,
                                    'status', 'draft', 'version', 1, 'totalCents', NULL,
                                    'createdAt', created, 'updatedAt', created,
                                    'closedAt', NULL)::text, 'UTF8'),
       created, created + interval '1 day'
FROM (SELECT n, gen_random_uuid() AS id, now() - (n %% 86400) * interval '1 second' AS created
      FROM generate_series(1, %(count)s) AS n) AS made
"""


def seed_live_keys(database_url: str, count: int) -> None:
    """The idempotency keys a running service keeps: a day of them, each with its 201.

    Without them the first create finds a near-empty table, and a statement prepared
    then keeps the plan of a tiny table (a sequential scan) while the run fills it.
    """
    import psycopg

    log(f"seeding {count:,} live idempotency keys for {LOAD_TENANT}")
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(_LIVE_KEYS, {"tenant": LOAD_TENANT, "count": count})


def settle(db: Database) -> None:
    """Statistics up to date and no dirty buffers left for the first measured requests
    to write out."""
    import psycopg

    with db.connect() as conn:
        conn.execute("VACUUM ANALYZE")
        try:
            conn.execute("CHECKPOINT")
        except psycopg.errors.InsufficientPrivilege:
            log("no privilege to CHECKPOINT: the first operation may pay for the seed's writes")


def setup_django(database_url: str) -> None:
    """This process talks to the bench database with the server's settings."""
    for name, value in django_env(database_url).items():
        if name.startswith(("DJANGO_", "DATABASE_URL", "LOG_")):
            os.environ[name] = value
    os.environ["ACCESS_LOG_LEVEL"] = "WARNING"
    import django

    django.setup()


def prepare_fixtures(workdir: Path) -> dict[str, Any]:
    """Id files for wrk and the `bench_ids` side table for pgbench.

    Writes consume their orders: wrk gets the first half of each list, pgbench the
    second, so neither touches an order the other changed.
    """
    from django.db import connection

    files, counts = {}, {}
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_ids")
        cursor.execute("CREATE TABLE bench_ids (op text, n int, id uuid, PRIMARY KEY (op, n))")
        for op, where, limit in (
            ("get", "TRUE", 20_000),
            ("confirm", "status = 'draft'", None),
            ("close", "status = 'confirmed'", None),
        ):
            cursor.execute(
                f"SELECT id, version FROM orders WHERE tenant_id = %s AND {where} "  # noqa: S608
                "ORDER BY random() LIMIT %s",
                [LOAD_TENANT, limit],
            )
            rows = [(str(order_id), version) for order_id, version in cursor.fetchall()]
            half = len(rows) if op == "get" else len(rows) // 2
            files[op] = workdir / f"ids-{op}.txt"
            files[op].write_text("".join(f"{oid} {version}\n" for oid, version in rows[:half]))
            with cursor.cursor.copy("COPY bench_ids (op, n, id) FROM STDIN") as copy:
                for n, (oid, _) in enumerate(rows if op == "get" else rows[half:], start=1):
                    copy.write_row((op, n, oid))
            counts[op] = len(rows)
        cursor.execute("ANALYZE")
    return {"files": files, "counts": counts}


# ----------------------------------------------------------------- statements


_TABLE_AFTER = {
    "SELECT": r"\bFROM",
    "DELETE": r"\bFROM",
    "INSERT": r"\bINTO",
    "UPDATE": r"^UPDATE",
}


def statement_shape(sql: str) -> str:
    """What a statement is, as "VERB table": enough to compare the app's SQL with a
    pgbench script while quoting, column lists and LIMITs change."""
    text = " ".join(sql.split()).rstrip(";")
    verb = text.split(" ", 1)[0].upper()
    match = re.search(rf'{_TABLE_AFTER.get(verb, "$^")}\s+(?:"?\w+"?\.)?"?(\w+)', text, re.I)
    return f"{verb} {match.group(1).lower()}" if match else verb


def pgbench_shapes(script: str) -> list[str]:
    """The statement sequence of a pgbench script."""
    lines = (PGBENCH_DIR / script).read_text().splitlines()
    return [
        statement_shape(line)
        for line in lines
        if line.strip() and not line.startswith(("\\", "--"))
    ]


def drift(app_shapes: dict[str, list[str]]) -> dict[str, dict[str, list[str]]]:
    """The operations whose pgbench script no longer issues what the app does."""
    drifted = {}
    for op in OPERATIONS:
        script = pgbench_shapes(op.pgbench_script)
        if op.name in app_shapes and app_shapes[op.name] != script:
            drifted[op.name] = {"app": app_shapes[op.name], "pgbench": script}
    return drifted


def record_statements() -> dict[str, list[str]]:
    """Run each operation once in process; the statements it sent, in order."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(headers={"X-Tenant-Id": COUNT_TENANT})
    recorded: dict[str, list[str]] = {}

    def record(name: str, expected_status: int, method: str, path: str, **kwargs: Any) -> Any:
        with CaptureQueriesContext(connection) as queries:
            response = getattr(client, method)(path, **kwargs)
        if response.status_code != expected_status:
            raise SystemExit(
                f"bench: {name} answered {response.status_code}: {response.content!r}"
            )
        recorded[name] = [query["sql"] for query in queries.captured_queries]
        return response

    def keyed(**headers: str) -> dict[str, Any]:
        return {
            "content_type": "application/json",
            "headers": {"Idempotency-Key": uuid.uuid4().hex, **headers},
        }

    create = keyed()
    order = record("create", 201, "post", "/orders", data="{}", **create).json()
    record("replay", 201, "post", "/orders", data="{}", **create)
    path = f"/orders/{order['id']}"
    record("get", 200, "get", path)
    record("get_not_modified", 304, "get", path, headers={"If-None-Match": '"1"'})
    record(
        "confirm",
        200,
        "patch",
        f"{path}/confirm",
        data='{"totalCents": 4200}',
        **keyed(**{"If-Match": '"1"'}),
    )
    record("close", 200, "post", f"{path}/close", **keyed(**{"If-Match": '"2"'}))
    for _ in range(25):  # enough for a second page
        client.post("/orders", "{}", **keyed())
    first = record("list_first", 200, "get", "/orders?limit=20").json()
    record("list_deep", 200, "get", "/orders", data={"limit": 20, "cursor": first["nextCursor"]})
    return recorded


# ------------------------------------------------------------------------ the load


def run_wrk(
    wrk: str, base_url: str, script: str, env: dict[str, str], seconds: int
) -> dict[str, Any]:
    """wrk with one of benchmarks/wrk/; its JSON summary with req/s and errors added."""
    threads = 2
    flags = f"-t {threads} -c {CONCURRENCY} -d {seconds}s --timeout 10s -s {script}"
    result = subprocess.run(
        [wrk, *flags.split(), base_url],
        cwd=WRK_DIR,
        env={**os.environ, **env, "BENCH_WRK_THREADS": str(threads)},
        capture_output=True,
        text=True,
        check=False,
    )
    line = next((x for x in result.stdout.splitlines() if x.startswith("BENCH-JSON ")), None)
    if result.returncode != 0 or line is None:
        raise SystemExit(f"bench: wrk failed:\n{result.stdout}{result.stderr}")
    data: dict[str, Any] = json.loads(line.removeprefix("BENCH-JSON "))
    data["rps"] = data["requests"] / (data["duration_us"] / 1e6)
    data["errors"] = sum(v for k, v in data.items() if k.startswith("errors_"))
    return data


def run_pgbench(
    pgbench: str, url: str, script: str, defines: dict[str, str], mode: Mode, workdir: Path
) -> dict[str, Any]:
    """pgbench on one of benchmarks/pgbench/ at the bench's concurrency: tps and latency."""
    logs = workdir / f"pgbench-{script}"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir()
    flags = f"-n -M prepared -c {CONCURRENCY} -j 2 -T {mode.seconds}"
    command = [pgbench, *flags.split(), "-f", str(PGBENCH_DIR / script)]
    command += ["-l", "--log-prefix", str(logs / "log")]
    for name, value in defines.items():
        command += ["-D", f"{name}={value}"]
    result = subprocess.run([*command, url], capture_output=True, text=True, check=False)
    match = re.search(r"tps = ([\d.]+) \(without initial connection time\)", result.stdout)
    if result.returncode != 0 or match is None:
        raise SystemExit(f"bench: pgbench failed:\n{result.stdout}{result.stderr}")
    latencies = sorted(
        int(row.split()[2]) for path in logs.iterdir() for row in path.read_text().splitlines()
    )
    return {
        "tps": float(match.group(1)),
        "transactions": len(latencies),
        "p50_us": _percentile(latencies, 50),
        "p99_us": _percentile(latencies, 99),
    }


def _percentile(values: list[int], pct: float) -> float:
    if not values:
        return float("nan")
    return float(values[min(len(values) - 1, int(len(values) * pct / 100))])


def bench_concurrency() -> tuple[int, int]:
    """gunicorn.conf.py's workers and threads, unless BENCH_GUNICORN_WORKERS /
    BENCH_GUNICORN_THREADS say otherwise."""
    import runpy

    saved = dict(os.environ)
    for name in ("WEB_CONCURRENCY", "GUNICORN_THREADS"):
        os.environ.pop(name, None)
    try:
        config = runpy.run_path(str(BASE_DIR / "gunicorn.conf.py"))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    workers = int(os.environ.get("BENCH_GUNICORN_WORKERS") or config["workers"])
    threads = int(os.environ.get("BENCH_GUNICORN_THREADS") or config["threads"])
    return workers, threads


def prime_replay_key(base_url: str) -> str:
    """Create one order with a key, so that every later request with it is a replay."""
    import http.client

    key = f"bench-replay-{uuid.uuid4().hex}"
    host, port = base_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        headers = {
            "X-Tenant-Id": LOAD_TENANT,
            "Idempotency-Key": key,
            "Content-Type": "application/json",
        }
        conn.request("POST", "/orders", "{}", headers)
        status = conn.getresponse().status
    finally:
        conn.close()
    if status != 201:
        raise SystemExit(f"bench: priming the replay key answered {status}")
    return key


def serve_app(database_url: str, workdir: Path, root: Path = BASE_DIR) -> tuple[Server, str]:
    """gunicorn serving the checkout at `root` as `make run` does (one JSON access line per
    request), its workers warmed up; and an idempotency key primed for the replay runs."""
    workers, threads = bench_concurrency()
    server = start_server(
        database_url,
        workdir,
        workers=workers,
        root=root,
        GUNICORN_THREADS=str(threads),
        LOG_LEVEL="INFO",
        ACCESS_LOG_LEVEL="INFO",
    )
    try:
        key = prime_replay_key(server.base_url)
        # Imports and connections are paid before the first measurement.
        warm = {"BENCH_TENANT": LOAD_TENANT, "BENCH_PATH": "/orders?limit=20"}
        run_wrk(find_wrk(), server.base_url, "list.lua", warm, 2)
    except BaseException:
        server.stop()
        raise
    return server, key


def measure_floor(wrk: str, server: Server, mode: Mode) -> dict[str, Any]:
    """wrk on GET /healthz, which sends no SQL, for as long as each operation runs."""
    return run_wrk(wrk, server.base_url, "list.lua", {"BENCH_PATH": "/healthz"}, mode.seconds)


def wrk_env(
    op: Operation, fixtures: dict[str, Any], replay_key: str, deep_cursor: str
) -> dict[str, str]:
    """What an operation's wrk script reads from its environment (see common.lua)."""
    env = {"BENCH_TENANT": LOAD_TENANT, "BENCH_KEY": replay_key}
    if op.name in ("get", "get_not_modified", "confirm", "close"):
        env["BENCH_IDS"] = str(fixtures["files"]["get" if op.name.startswith("get") else op.name])
    if op.name == "list_first":
        env.update(BENCH_TENANT=DEEP_TENANT, BENCH_PATH="/orders?limit=20")
    if op.name == "list_deep":
        env.update(BENCH_TENANT=DEEP_TENANT, BENCH_PATH=f"/orders?limit=20&cursor={deep_cursor}")
    return env


def load_and_ceiling(
    db: Database, workdir: Path, mode: Mode, fixtures: dict[str, Any], only: set[str] | None
) -> dict[str, Any]:
    """The floors first, then each operation: wrk against gunicorn, then pgbench."""
    from django.db import connection

    from benchmarks.depth import cursor_at, keyset_at

    wrk, pgbench = find_wrk(), find_pgbench()
    deep_cursor = cursor_at(DEEP_TENANT, mode.depths[-1])
    deep_keyset = keyset_at(DEEP_TENANT, mode.depths[-1])
    if deep_cursor is None or deep_keyset is None:
        raise SystemExit("bench: the deep tenant has too few orders")
    with connection.cursor() as cursor:
        cursor.execute("SELECT fingerprint FROM idempotency_keys LIMIT 1")
        fingerprint = cursor.fetchone()[0]
        cursor.execute(
            "INSERT INTO idempotency_keys (tenant_id, key, fingerprint, response_status,"
            " response_headers, response_body, created_at, expires_at) VALUES"
            " (%s, 'pgbench-replay', %s, 201, '{}', '\\x7b7d', now(), now() + interval '1 day')",
            [LOAD_TENANT, fingerprint],
        )
    workers, threads = bench_concurrency()
    results: dict[str, Any] = {"workers": workers, "threads": threads, "floors": {}}
    # The floors come before the writes leave work for autovacuum.
    for floor in FLOORS:
        if floor.app is not None:
            stand_in = start_server(
                db.url, workdir, workers=workers, app=floor.app, GUNICORN_THREADS=str(threads)
            )
            try:
                results["floors"][floor.key] = measure_floor(wrk, stand_in, mode)
            finally:
                stand_in.stop()
    log(f"starting gunicorn ({workers} workers x {threads} threads)")
    server, replay_key = serve_app(db.url, workdir)
    try:
        results["floors"]["app"] = measure_floor(wrk, server, mode)
        for key, floor in results["floors"].items():
            log(f"floor {key} (GET /healthz, no SQL): {floor['rps']:.0f} req/s")
        defines = {
            "tenant": LOAD_TENANT,
            "deeptenant": DEEP_TENANT,
            "fingerprint": fingerprint,
            "replaykey": "pgbench-replay",
            "i": "0",
            "clients": str(CONCURRENCY),
            "base": "0",
            "nget": str(fixtures["counts"]["get"]),
            "deepts": deep_keyset.created_at.isoformat(),
            "deepid": str(deep_keyset.id),
        }
        for op in OPERATIONS:
            if only and op.name not in only:
                continue
            log(f"{op.name}: wrk, then pgbench, {mode.seconds} s each")
            env = wrk_env(op, fixtures, replay_key, deep_cursor)
            app = run_wrk(wrk, server.base_url, op.wrk_script, env, mode.seconds)
            ceiling = run_pgbench(pgbench, db.url, op.pgbench_script, defines, mode, workdir)
            log(
                f"{op.name}: {app['rps']:.0f} req/s, ceiling {ceiling['tps']:.0f} tps,"
                f" errors {app['errors']}"
            )
            results[op.name] = {"title": op.title, "app": app, "ceiling": ceiling}
    finally:
        server.stop()
    return results


def explain_list(deep_depth: int) -> dict[str, Any]:
    """EXPLAIN ANALYZE of the list query at the deepest page, and whether it scans."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from benchmarks.depth import cursor_at

    client = Client(headers={"X-Tenant-Id": DEEP_TENANT})
    page = {"limit": "20", "cursor": cursor_at(DEEP_TENANT, deep_depth) or ""}
    with CaptureQueriesContext(connection) as queries:
        client.get("/orders", page)
    sql = queries.captured_queries[-1]["sql"]
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    return {
        "sql": sql,
        "plan": plan,
        "seq_scan": "Seq Scan" in plan,
        "sort": bool(re.search(r"\bSort\b", plan)),
    }


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    cpuinfo = Path("/proc/cpuinfo")
    models = [
        line.split(":", 1)[1].strip()
        for line in (cpuinfo.read_text().splitlines() if cpuinfo.exists() else [])
        if line.startswith("model name")
    ]

    commit = git("rev-parse", "--short", "HEAD", check=False) or "unknown"
    if git("status", "--porcelain", "--untracked-files=no", check=False):
        commit += "+changes"
    return {
        "commit": commit,
        "cpu": models[0] if models else platform.processor() or "unknown",
        "cores": str(len(os.sched_getaffinity(0))),
        "memory_gib": f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.1f}",
        "os": f"{platform.system()} {platform.release()} {platform.machine()}",
        "python": platform.python_version(),
        "load_before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def main(argv: list[str]) -> int:
    """Run the benchmark and write its results; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="smoke mode: small and short")
    parser.add_argument("--only", default="", help="comma-separated operations to load-test")
    parser.add_argument("--seconds", type=int, default=0, help="override seconds per run")
    parser.add_argument("--label", default="", help="name of the results files (default: mode)")
    args = parser.parse_args(argv)
    mode = QUICK if args.quick else FULL
    if args.seconds:
        mode = dataclasses.replace(mode, seconds=args.seconds)
    only = {name for name in args.only.split(",") if name} or None
    find_wrk()
    find_pgbench()
    started = time.monotonic()
    about = machine()
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    given = os.environ.get("BENCH_DATABASE_URL")
    db: Database | None = None
    try:
        if given:
            db = GivenBenchDatabase(given)
        else:
            log(f"starting PostgreSQL in {workdir}")
            db = EmbeddedDatabase(workdir, dbname="orders_bench", server_options=SERVER_OPTIONS)
        migrate(db.url)
        seed(db.url, mode)
        settle(db)
        setup_django(db.url)
        from django.db import connection

        from benchmarks import depth

        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            about["postgresql"] = cursor.fetchone()[0]
        statements = record_statements()
        shapes = {
            name: [statement_shape(sql) for sql in sqls] for name, sqls in statements.items()
        }
        drifted = drift(shapes)
        for name, pair in drifted.items():
            log(
                f"WARNING: benchmarks/pgbench/{name}.sql drifted from the app's SQL, so its "
                f"ceiling measures other statements\n  app:     {pair['app']}\n"
                f"  pgbench: {pair['pgbench']}"
            )
        fixtures = prepare_fixtures(workdir)
        operations = load_and_ceiling(db, workdir, mode, fixtures, only)
        log("page latency at depth")
        depths = depth.measure(DEEP_TENANT, list(mode.depths), mode.depth_repeats)
        plan = explain_list(mode.depths[-1])
        connection.close()
    finally:
        if db is not None:
            db.close()
        remove_tree(workdir)
    results = {
        "mode": asdict(mode),
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {**about, "load_after": " ".join(f"{x:.2f}" for x in os.getloadavg())},
        "server_options": SERVER_OPTIONS,
        "statements": statements,
        "shapes": shapes,
        "drift": drifted,
        "workers": operations.pop("workers"),
        "threads": operations.pop("threads"),
        "floors": operations.pop("floors"),
        "operations": operations,
        "depth": depths,
        "plan": plan,
        "seconds": round(time.monotonic() - started, 1),
    }
    from benchmarks import chart, report

    name = args.label or ("quick-run" if args.quick else "last-run")
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / f"{name}.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    text = report.render(results)
    (RESULTS_DIR / f"{name}.md").write_text(text)
    chart.draw(results, RESULTS_DIR / f"{name}.png")
    print(text)
    log(f"results in {RESULTS_DIR.relative_to(BASE_DIR)}/{name}.{{json,md,png}}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
