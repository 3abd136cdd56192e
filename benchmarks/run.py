"""API benchmark: every operation against its PostgreSQL ceiling, on the real stack.

    make bench                  # full run: writes benchmarks/results/last-run.json,
                                # docs/BENCHMARKS.md (its api-bench section) and
                                # docs/benchmarks.png
    make bench BENCH_QUICK=1    # smoke mode: small data, 2 s per operation, same shape;
                                # writes benchmarks/results/quick-run.json only

1. Starts a dedicated PostgreSQL (faults.stack.EmbeddedDatabase; BENCH_DATABASE_URL
   names a given one instead), migrates it and seeds it with `manage.py seed_orders`:
   one tenant with the deep data set (1,000,000 orders) and one for the load, which also
   gets the live idempotency keys a day of creates leaves behind.
2. Counts the SQL statements of each operation in process (CaptureQueriesContext) and
   checks that the pgbench scripts in benchmarks/pgbench/ issue the same sequence.
3. Starts gunicorn with gunicorn.conf.py and the production settings (faults.stack),
   with the worker count gunicorn.conf.py recommends, and drives each operation with
   wrk at a fixed concurrency; then runs its pgbench script at the same concurrency.
4. Times a page at several depths with our cursors and with DRF's LimitOffsetPagination,
   and EXPLAIN ANALYZEs the list query at the deepest one.
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
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from benchmarks.cores import CoreMeter, postmaster_pid  # noqa: E402
from benchmarks.pgwork import WorkMeter  # noqa: E402
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


@dataclass(frozen=True)
class Mode:
    """How big and how long."""

    name: str
    deep_orders: int
    load_orders: int
    seconds: int
    concurrency: int
    depths: tuple[int, ...]
    depth_repeats: int
    live_keys: int  # completed idempotency keys of the load tenant, not yet expired


FULL = Mode("full", 1_000_000, 500_000, 10, 8, (0, 10_000, 100_000, 999_000), 41, 100_000)
QUICK = Mode("quick", 20_000, 100_000, 2, 8, (0, 1_000, 10_000, 19_000), 3, 20_000)


@dataclass(frozen=True)
class Operation:
    """One benchmarked request and how to make it."""

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
    Operation("list_deep", "list, page at ~1M deep", "list.lua", "list_deep.sql"),
)


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def measured_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def write_results(name: str, results: dict[str, Any], table: str) -> None:
    """Keep a comparison's figures in benchmarks/results/<name>.json and print its table."""
    RESULTS_DIR.mkdir(exist_ok=True)
    out = RESULTS_DIR / f"{name}.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    log(f"results in {out.relative_to(BASE_DIR)}")
    print(table)


# --------------------------------------------------------------------------- tools


def find_wrk() -> str:
    """wrk on PATH, installed from Debian's packages when we can; else a loud failure."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        log("wrk is missing: apt-get install -y wrk")
        subprocess.run(["apt-get", "update", "-qq"], check=False)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False)
        found = shutil.which("wrk")
        if found:
            return found
    raise SystemExit(
        "bench: wrk (the HTTP load generator) is not installed. Install it with "
        "`sudo apt-get install wrk` (Debian/Ubuntu) or `brew install wrk` (macOS)."
    )


def find_pgbench() -> str:
    """pgbench from pgserver's PostgreSQL (same version as the server), else PATH."""
    import pgserver

    bundled = Path(pgserver.__file__).parent / "pginstall" / "bin" / "pgbench"
    if bundled.exists():
        return str(bundled)
    found = shutil.which("pgbench")
    if found:
        return found
    raise SystemExit("bench: pgbench not found (it ships with PostgreSQL and pgserver).")


# ----------------------------------------------------------------------- database


class GivenBenchDatabase(Database):
    """BENCH_DATABASE_URL: a PostgreSQL somebody else runs (never stopped here)."""

    def __init__(self, url: str) -> None:
        self.url = url


def seed(database_url: str, mode: Mode) -> dict[str, float]:
    """Both tenants' orders through `manage.py seed_orders` (progress bar on stderr)."""
    timings = {}
    env = django_env(database_url)
    for prefix, orders in (("deep-", mode.deep_orders), ("load-", mode.load_orders)):
        log(f"seeding {orders:,} orders for {prefix}1")
        started = time.monotonic()
        subprocess.run(
            [
                sys.executable,
                "manage.py",
                "seed_orders",
                "--tenants",
                "1",
                "--orders",
                str(orders),
                "--tenant-prefix",
                prefix,
            ],
            cwd=BASE_DIR,
            env=env,
            check=True,
        )
        timings[prefix + "1"] = orders / (time.monotonic() - started)
    seed_live_keys(database_url, mode.live_keys)
    return timings


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
    """The idempotency keys earlier writes left behind, as a running service keeps a
    day of them: random keys (as clients' UUIDs are), each with a stored 201.

    Without them the table holds a handful of rows when the first create comes, and a
    prepared statement planned then keeps the plan of a tiny table (a sequential scan)
    while the run fills it; the ceiling, run after, would find the table grown.
    """
    import psycopg

    log(f"seeding {count:,} live idempotency keys for {LOAD_TENANT}")
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(_LIVE_KEYS, {"tenant": LOAD_TENANT, "count": count})


def settle(db: Database) -> None:
    """After seeding: statistics and visibility up to date, and no dirty buffers left for
    the first measured requests to write out while they look for free ones."""
    import psycopg

    with db.connect() as conn:
        conn.execute("VACUUM ANALYZE")
        try:
            conn.execute("CHECKPOINT")
        except psycopg.errors.InsufficientPrivilege:
            log("no privilege to CHECKPOINT: the first operation may pay for the seed's writes")


def setup_django(database_url: str) -> None:
    """This process talks to the bench database with the server's settings and key."""
    for name, value in django_env(database_url).items():
        if name.startswith(("DJANGO_", "DATABASE_URL", "LOG_")):
            os.environ[name] = value
    os.environ["ACCESS_LOG_LEVEL"] = "WARNING"
    import django

    django.setup()


def prepare_fixtures(workdir: Path, mode: Mode) -> dict[str, Any]:
    """Id files for wrk and the `bench_ids` side table for pgbench.

    Writes consume their orders: wrk gets the first half of each list, pgbench the
    second, so neither touches an order the other changed.
    """
    from django.db import connection

    lists: dict[str, list[tuple[str, int]]] = {}
    with connection.cursor() as cursor:
        # Every draft and every confirmed order: the writes consume them, one each.
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
            lists[op] = [(str(row[0]), row[1]) for row in cursor.fetchall()]
        cursor.execute("DROP TABLE IF EXISTS bench_ids")
        cursor.execute("CREATE TABLE bench_ids (op text, n int, id uuid, PRIMARY KEY (op, n))")
        files = {}
        for op, rows in lists.items():
            half = len(rows) if op == "get" else len(rows) // 2
            path = workdir / f"ids-{op}.txt"
            path.write_text("".join(f"{oid} {version}\n" for oid, version in rows[:half]))
            files[op] = path
            pg_rows = rows if op == "get" else rows[half:]
            with cursor.cursor.copy("COPY bench_ids (op, n, id) FROM STDIN") as copy:
                for n, (oid, _) in enumerate(pg_rows, start=1):
                    copy.write_row((op, n, oid))
        cursor.execute("ANALYZE")
    return {"files": files, "counts": {op: len(rows) for op, rows in lists.items()}}


# ----------------------------------------------------------------- statement counts


def _shape(sql: str) -> str:
    """What a statement is, for comparing sequences: verb and first table."""
    text = " ".join(sql.split()).rstrip(";")
    verb = text.split(" ", 1)[0].upper()
    if verb in ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"):
        return verb
    pattern = {
        "SELECT": r"\bFROM\s+\"?(\w+)",
        "INSERT": r"\bINTO\s+\"?(\w+)",
        "UPDATE": r"^UPDATE\s+\"?(\w+)",
        "DELETE": r"\bFROM\s+\"?(\w+)",
    }
    match = re.search(pattern.get(verb, r"$^"), text, re.IGNORECASE)
    if match:
        return f"{verb} {match.group(1)}"
    call = re.match(r"SELECT\s+(\w+)\(", text, re.IGNORECASE)  # e.g. SELECT pg_notify(...)
    return f"SELECT {call.group(1)}()" if call else verb


def pgbench_shapes(script: str) -> list[str]:
    """The statement sequence of a pgbench script."""
    lines = (PGBENCH_DIR / script).read_text().splitlines()
    return [_shape(line) for line in lines if line.strip() and not line.startswith(("\\", "--"))]


def count_statements() -> dict[str, dict[str, Any]]:
    """Run each operation once in process and record every statement it sent."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from orders.services import order_create

    for _ in range(25):
        order_create(tenant_id=COUNT_TENANT)
    client = Client(headers={"X-Tenant-Id": COUNT_TENANT})
    results: dict[str, dict[str, Any]] = {}

    def capture(name: str, send: Any, expected_status: int) -> Any:
        with CaptureQueriesContext(connection) as queries:
            response = send()
        if response.status_code != expected_status:
            raise SystemExit(
                f"bench: {name} answered {response.status_code}: {response.content!r}"
            )
        statements = [query["sql"] for query in queries.captured_queries]
        results[name] = {
            "statements": len(statements),
            "shapes": [_shape(sql) for sql in statements],
            "sql": statements,
        }
        return response

    key = uuid.uuid4().hex
    created = capture(
        "create",
        lambda: client.post(
            "/orders", "{}", content_type="application/json", headers={"Idempotency-Key": key}
        ),
        201,
    ).json()
    capture(
        "replay",
        lambda: client.post(
            "/orders", "{}", content_type="application/json", headers={"Idempotency-Key": key}
        ),
        201,
    )
    order = f"/orders/{created['id']}"
    capture("get", lambda: client.get(order), 200)
    capture("get_not_modified", lambda: client.get(order, headers={"If-None-Match": '"1"'}), 304)
    capture(
        "confirm",
        lambda: client.patch(
            f"{order}/confirm",
            '{"totalCents": 4200}',
            content_type="application/json",
            headers={"If-Match": '"1"', "Idempotency-Key": uuid.uuid4().hex},
        ),
        200,
    )
    capture(
        "close",
        lambda: client.post(
            f"{order}/close", headers={"If-Match": '"2"', "Idempotency-Key": uuid.uuid4().hex}
        ),
        200,
    )
    first = capture("list_first", lambda: client.get("/orders?limit=20"), 200).json()
    capture(
        "list_deep",
        lambda: client.get("/orders", {"limit": 20, "cursor": first["nextCursor"]}),
        200,
    )
    for op in OPERATIONS:
        ceiling = pgbench_shapes(op.pgbench_script)
        if ceiling != results[op.name]["shapes"]:
            raise SystemExit(
                f"bench: benchmarks/pgbench/{op.pgbench_script} no longer issues what "
                f"{op.name} does.\n  app:     {results[op.name]['shapes']}\n"
                f"  pgbench: {ceiling}\nUpdate the script from the captured SQL."
            )
    return results


# ------------------------------------------------------------------------ the load


def run_wrk(
    wrk: str, base_url: str, script: str, env: dict[str, str], *, connections: int, seconds: int
) -> dict[str, Any]:
    threads = 2
    command = [
        wrk,
        "-t",
        str(threads),
        "-c",
        str(connections),
        "-d",
        f"{seconds}s",
        "--timeout",
        "10s",
        "-s",
        script,
        base_url,
    ]
    result = subprocess.run(
        command,
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
    errors = sum(v for k, v in data.items() if k.startswith("errors_"))
    data["errors"] = errors
    return data


def run_pgbench(
    pgbench: str, url: str, script: str, defines: dict[str, str], mode: Mode, workdir: Path
) -> dict[str, Any]:
    logs = workdir / f"pgbench-{script}"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir()
    command = [
        pgbench,
        "-n",
        "-M",
        "prepared",
        "-c",
        str(mode.concurrency),
        "-j",
        "2",
        "-T",
        str(mode.seconds),
        "-f",
        str(PGBENCH_DIR / script),
        "-l",
        "--log-prefix",
        str(logs / "log"),
    ]
    for name, value in defines.items():
        command += ["-D", f"{name}={value}"]
    result = subprocess.run([*command, url], capture_output=True, text=True, check=False)
    match = re.search(r"tps = ([\d.]+) \(without initial connection time\)", result.stdout)
    failed = re.search(r"number of failed transactions: (\d+)", result.stdout)
    if result.returncode != 0 or match is None:
        raise SystemExit(f"bench: pgbench failed:\n{result.stdout}{result.stderr}")
    latencies = sorted(
        int(row.split()[2]) for path in logs.iterdir() for row in path.read_text().splitlines()
    )
    return {
        "tps": float(match.group(1)),
        "transactions": len(latencies),
        "failed": int(failed.group(1)) if failed else 0,
        "p50_us": _percentile(latencies, 50),
        "p99_us": _percentile(latencies, 99),
    }


def _percentile(values: list[int], pct: float) -> float:
    if not values:
        return float("nan")
    return float(values[min(len(values) - 1, int(len(values) * pct / 100))])


def bench_concurrency() -> tuple[int, int]:
    """The workers and threads to serve with: gunicorn.conf.py's recommendation, unless
    BENCH_GUNICORN_WORKERS / BENCH_GUNICORN_THREADS say otherwise."""
    workers, threads = recommended_concurrency()
    workers = int(os.environ.get("BENCH_GUNICORN_WORKERS") or workers)
    threads = int(os.environ.get("BENCH_GUNICORN_THREADS") or threads)
    return workers, threads


def recommended_concurrency() -> tuple[int, int]:
    """The workers and threads gunicorn.conf.py picks when nothing overrides them."""
    import runpy

    saved = dict(os.environ)
    for name in ("WEB_CONCURRENCY", "GUNICORN_THREADS"):
        os.environ.pop(name, None)
    try:
        config = runpy.run_path(str(BASE_DIR / "gunicorn.conf.py"))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return int(config["workers"]), int(config["threads"])


def prime_replay_key(base_url: str) -> str:
    """Create one order with a key, so that every later request with it is a replay."""
    key = f"bench-replay-{uuid.uuid4().hex}"
    headers = {
        "X-Tenant-Id": LOAD_TENANT,
        "Idempotency-Key": key,
        "Content-Type": "application/json",
    }
    status, _ = _http(base_url, "POST", "/orders", "{}", headers)
    if status != 201:
        raise SystemExit(f"bench: priming the replay key answered {status}")
    return key


def _http(base_url: str, method: str, path: str, body: str | None, headers: dict[str, str]) -> Any:
    import http.client

    host, port = base_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request(method, path, body, {"X-Tenant-Id": COUNT_TENANT, **headers})
        response = conn.getresponse()
        payload = response.read()
    finally:
        conn.close()
    return response.status, json.loads(payload) if payload else None


def count_on_the_wire(db: Database, base_url: str) -> dict[str, int] | None:
    """Statements each operation sends, as the server logged them (log_statement = all).

    Unlike Django's query capture this sees everything on the wire, including what
    Django sends behind its own back (a connection health check, for one).
    """
    if not isinstance(db, EmbeddedDatabase):
        return None
    server_log = db.data / "log"
    with db.connect() as conn:
        conn.execute("ALTER SYSTEM SET log_statement = 'all'")
        conn.execute("SELECT pg_reload_conf()")
    time.sleep(1)
    json_body = {"Content-Type": "application/json"}
    counts: dict[str, int] = {}

    def count(name: str, method: str, path: str, body: str | None, headers: dict[str, str]) -> Any:
        offset = server_log.stat().st_size
        status, payload = _http(base_url, method, path, body, headers)
        time.sleep(0.2)
        with server_log.open("rb") as log_file:
            log_file.seek(offset)
            lines = log_file.read().decode(errors="replace").splitlines()
        counts[name] = sum(
            1 for line in lines if "LOG:  statement: " in line or "LOG:  execute " in line
        )
        return status, payload

    try:
        # Every worker opens its persistent connection first, as under load: the counts
        # are per request, not per connection.
        for _ in range(50):
            _http(base_url, "GET", "/orders?limit=1", None, {})
        key = uuid.uuid4().hex
        _, order = _http(base_url, "POST", "/orders", "{}", {**json_body, "Idempotency-Key": key})
        count(
            "create", "POST", "/orders", "{}", {**json_body, "Idempotency-Key": uuid.uuid4().hex}
        )
        count("replay", "POST", "/orders", "{}", {**json_body, "Idempotency-Key": key})
        path = f"/orders/{order['id']}"
        count("get", "GET", path, None, {})
        count("get_not_modified", "GET", path, None, {"If-None-Match": '"1"'})
        drafts = [
            _http(
                base_url,
                "POST",
                "/orders",
                "{}",
                {**json_body, "Idempotency-Key": uuid.uuid4().hex},
            )[1]["id"]
            for _ in range(2)
        ]
        for draft in drafts:
            count(
                "confirm",
                "PATCH",
                f"/orders/{draft}/confirm",
                '{"totalCents": 4200}',
                {**json_body, "If-Match": '"1"', "Idempotency-Key": uuid.uuid4().hex},
            )
        count(
            "close",
            "POST",
            f"/orders/{drafts[0]}/close",
            None,
            {"If-Match": '"2"', "Idempotency-Key": uuid.uuid4().hex},
        )
        _, first = count("list_first", "GET", "/orders?limit=20", None, {})
        count("list_deep", "GET", f"/orders?limit=20&cursor={first['nextCursor']}", None, {})
    finally:
        with db.connect() as conn:
            conn.execute("ALTER SYSTEM RESET log_statement")
            conn.execute("SELECT pg_reload_conf()")
    return counts


def load_and_ceiling(
    db: Database, workdir: Path, mode: Mode, fixtures: dict[str, Any], only: set[str] | None
) -> dict[str, Any]:
    from django.db import connection

    from benchmarks.depth import cursor_at, keyset_at

    wrk, pgbench = find_wrk(), find_pgbench()
    deep_depth = mode.depths[-1]
    deep_cursor = cursor_at(DEEP_TENANT, deep_depth)
    deep_keyset = keyset_at(DEEP_TENANT, deep_depth)
    if deep_keyset is None:
        raise SystemExit("bench: the deep tenant has too few orders")
    with connection.cursor() as cursor:
        cursor.execute("SELECT fingerprint FROM idempotency_keys LIMIT 1")
        fingerprint = cursor.fetchone()[0]
        postgres_pid = postmaster_pid(cursor)
    workers, threads = bench_concurrency()
    # The floors come first, before the writes leave work for autovacuum: the same
    # gunicorn serving stand-ins (a bare WSGI function, Django with nothing of ours), then
    # the app answering GET /healthz. No ratio can beat what these allow on the same cores.
    floors: dict[str, Any] = {}
    for key, stand_in_app, _, _ in FLOORS:
        if stand_in_app is None:
            continue
        stand_in = start_server(
            db.url, workdir, workers=workers, app=stand_in_app, GUNICORN_THREADS=str(threads)
        )
        try:
            floors[key] = measure_floor(wrk, stand_in, mode, stand_in_app)
        finally:
            stand_in.stop()
    log(f"starting gunicorn ({workers} workers x {threads} threads)")
    # Production logging: one JSON access line per request, as `make run` writes them.
    server = start_server(
        db.url,
        workdir,
        workers=workers,
        GUNICORN_THREADS=str(threads),
        LOG_LEVEL="INFO",
        ACCESS_LOG_LEVEL="INFO",
    )
    results: dict[str, Any] = {
        "workers": workers,
        "threads": threads,
        "floors": floors,
        "postgres_local": postgres_pid is not None,
    }
    try:
        results["wire_statements"] = count_on_the_wire(db, server.base_url)
        log(f"statements on the wire: {results['wire_statements']}")
        replay_key = prime_replay_key(server.base_url)
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO idempotency_keys (tenant_id, key, fingerprint, response_status,"
                " response_headers, response_body, created_at, expires_at) VALUES"
                " (%s, 'pgbench-replay', %s, 201, '{}', '\\x7b7d', now(),"
                " now() + interval '1 day')",
                [LOAD_TENANT, fingerprint],
            )
        # Warm the workers (imports, connections) before the first measurement.
        run_wrk(
            wrk,
            server.base_url,
            "list.lua",
            {"BENCH_TENANT": LOAD_TENANT, "BENCH_PATH": "/orders?limit=20"},
            connections=mode.concurrency,
            seconds=2,
        )
        floors["app"] = measure_floor(wrk, server, mode, "the app")
        defines = {
            "tenant": LOAD_TENANT,
            "deeptenant": DEEP_TENANT,
            "fingerprint": fingerprint,
            "replaykey": "pgbench-replay",
            "i": "0",
            "clients": str(mode.concurrency),
            "base": "0",
            "nget": str(fixtures["counts"]["get"]),
            "deepts": deep_keyset.created_at.isoformat(),
            "deepid": str(deep_keyset.id),
        }
        # The work meter ends every other session of the database before it reads
        # (pgwork.py), so it only meters a database of the bench's own; this process's
        # session is closed here, and opened again when the depth runs need it.
        own_database = isinstance(db, EmbeddedDatabase)
        connection.close()
        for op in OPERATIONS:
            if only and op.name not in only:
                continue
            env = {"BENCH_TENANT": LOAD_TENANT}
            if op.name in ("get", "get_not_modified", "confirm", "close"):
                env["BENCH_IDS"] = str(
                    fixtures["files"]["get" if op.name.startswith("get") else op.name]
                )
            if op.name == "replay":
                env["BENCH_KEY"] = replay_key
            if op.name == "list_first":
                env.update(BENCH_TENANT=DEEP_TENANT, BENCH_PATH="/orders?limit=20")
            if op.name == "list_deep":
                env.update(
                    BENCH_TENANT=DEEP_TENANT, BENCH_PATH=f"/orders?limit=20&cursor={deep_cursor}"
                )
            log(f"{op.name}: wrk, {mode.seconds} s at {mode.concurrency} connections")
            with (
                WorkMeter(db) if own_database else nullcontext() as work,
                CoreMeter(server_pid=server.process.pid, postgres_pid=postgres_pid) as meter,
            ):
                app = run_wrk(
                    wrk,
                    server.base_url,
                    op.wrk_script,
                    env,
                    connections=mode.concurrency,
                    seconds=mode.seconds,
                )
            app["cores"] = meter.split.as_dict()
            app["pg_work"] = asdict(work.done) if work is not None else None
            log(f"{op.name}: pgbench, {mode.seconds} s at {mode.concurrency} clients")
            with (
                WorkMeter(db) if own_database else nullcontext() as work,
                CoreMeter(server_pid=None, postgres_pid=postgres_pid) as meter,
            ):
                ceiling = run_pgbench(pgbench, db.url, op.pgbench_script, defines, mode, workdir)
            ceiling["cores"] = meter.split.as_dict()
            ceiling["pg_work"] = asdict(work.done) if work is not None else None
            ratio = app["rps"] / ceiling["tps"] if ceiling["tps"] else float("nan")
            log(
                f"{op.name}: {app['rps']:.0f} req/s vs {ceiling['tps']:.0f} tps = {ratio:.1%}"
                f" (app p50 {app['p50_us'] / 1000:.2f} ms, p99 {app['p99_us'] / 1000:.2f} ms;"
                f" errors {app['errors']})"
            )
            results[op.name] = {"title": op.title, "app": app, "ceiling": ceiling, "ratio": ratio}
    finally:
        server.stop()
    return results


# The floors, from the least that runs to the most: key, the stand-in gunicorn serves
# (None: the app itself), the layer it adds, and what answers.
FLOORS: tuple[tuple[str, str | None, str, str], ...] = (
    (
        "wsgi",
        "benchmarks.floor_wsgi:application",
        "gunicorn alone",
        "a WSGI function returning a constant (`floor_wsgi.py`)",
    ),
    (
        "django",
        "benchmarks.floor_django:application",
        "+ Django",
        "Django, no middleware, one view (`floor_django.py`)",
    ),
    ("app", None, "+ this project", "the app's own `GET /healthz`: every middleware, no SQL"),
)


def measure_floor(wrk: str, server: Server, mode: Mode, what: str) -> dict[str, Any]:
    """wrk on GET /healthz, which sends no SQL, for as long as each operation runs."""
    env = {"BENCH_PATH": "/healthz"}
    with CoreMeter(server_pid=server.process.pid, postgres_pid=None) as meter:
        floor = run_wrk(
            wrk,
            server.base_url,
            "list.lua",
            env,
            connections=mode.concurrency,
            seconds=mode.seconds,
        )
    floor["cores"] = meter.split.as_dict()
    log(f"floor, {what} (GET /healthz, no SQL): {floor['rps']:.0f} req/s")
    return floor


def explain_list(deep_depth: int) -> dict[str, Any]:
    """EXPLAIN ANALYZE of the list query at the deepest page, and what the plan uses."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from benchmarks.depth import keyset_at
    from orders.services import order_list

    keyset = keyset_at(DEEP_TENANT, deep_depth)
    with CaptureQueriesContext(connection) as queries:
        order_list(tenant_id=DEEP_TENANT, status=None, limit=20, after=keyset)
    sql = queries.captured_queries[-1]["sql"]
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    return {
        "sql": sql,
        "plan": plan,
        "index_scan": "Index Scan using orders_tenant_created_id_idx" in plan,
        "sort": bool(re.search(r"\bSort\b", plan)),
        "seq_scan": "Seq Scan" in plan,
    }


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": str(len(os.sched_getaffinity(0))),
        "memory_gib": f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.1f}",
        "os": f"{platform.system()} {platform.release()} {platform.machine()}",
        "python": platform.python_version(),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="smoke mode: small and short")
    parser.add_argument("--only", default="", help="comma-separated operations to load-test")
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite the docs")
    parser.add_argument("--seconds", type=int, default=0, help="override seconds per run")
    parser.add_argument("--label", default="", help="name of the results file (default: mode)")
    args = parser.parse_args(argv)
    mode = QUICK if args.quick else FULL
    if args.seconds:
        mode = dataclasses.replace(mode, seconds=args.seconds)
    only = {name for name in args.only.split(",") if name} or None
    find_wrk()
    find_pgbench()
    started = time.monotonic()
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
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
        seed_rate = seed(db.url, mode)
        settle(db)
        setup_django(db.url)
        from django.db import connection

        from benchmarks import depth

        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            server_version = cursor.fetchone()[0]
        statements = count_statements()
        fixtures = prepare_fixtures(workdir, mode)
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
        "measured_at": measured_now(),
        "machine": {**machine(), "postgresql": server_version, "load_before": load_before},
        "seed_orders_per_s": seed_rate,
        "statements": statements,
        "wire_statements": operations.pop("wire_statements", None),
        "floors": operations.pop("floors", None),
        "operations": operations,
        "depth": depths,
        "plan": plan,
        "seconds": round(time.monotonic() - started, 1),
        "load_after": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
    RESULTS_DIR.mkdir(exist_ok=True)
    out = RESULTS_DIR / f"{args.label or ('quick-run' if args.quick else 'last-run')}.json"
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    log(f"results in {out.relative_to(BASE_DIR)}")
    from benchmarks import report

    print(report.summary(results))
    if not args.quick and not args.no_docs and not only:
        report.write_docs(results)
        log("wrote docs/BENCHMARKS.md and docs/benchmarks.png")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
