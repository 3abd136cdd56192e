"""`make bench`: every operation through `make serve`'s stack and direct, at 8 and 64
keep-alive connections, against its PostgreSQL ceiling; the floors; a page at depth.

    make bench                  # 1M orders seeded, 10 s per run
    make bench BENCH_QUICK=1    # smoke mode (what CI runs): small data, 1 s per run

Seeds a PostgreSQL of its own (BENCH_DATABASE_URL names another) with `manage.py
seed_orders`, checks the pgbench scripts against the SQL the app sends (a drift is a
warning), walks the deep tenant over HTTP, then runs wrk and pgbench. Figures go to
benchmarks/results/ (ignored by git); docs/BENCHMARKS.md says what each one means.
"""

from __future__ import annotations

import argparse
import dataclasses
import http.client
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import report, stack, statements
from benchmarks.stack import Server, get, log, run_wrk, start
from scripts.devdb import pg_bin_dir

DEEP_TENANT, LOAD_TENANT, COUNT_TENANT = "deep-1", "load-1", "count-1"
SHAPES = ("serve", "direct")
CONNECTIONS = (8, 64)
PGBENCH_CLIENTS = 8
WALK_LIMIT = 100
FIRST_PAGE = "/orders?limit=20"
WARM = {"BENCH_TENANT": DEEP_TENANT, "BENCH_PATH": FIRST_PAGE}
ANY_KEY = "SELECT fingerprint FROM idempotency_keys LIMIT 1"


@dataclass(frozen=True)
class Mode:
    """How big and how long."""

    name: str
    deep_orders: int
    load_orders: int
    seconds: int
    depth_repeats: int


FULL = Mode("full", 300_000, 700_000, 10, 21)
QUICK = Mode("quick", 5_000, 40_000, 1, 3)

# name: (title, wrk script); each also has benchmarks/pgbench/<name>.sql.
OPERATIONS = {
    "create": ("create, fresh key", "create.lua"),
    "replay": ("create, replayed key", "replay.lua"),
    "get": ("get", "get.lua"),
    "get_not_modified": ("get, If-None-Match (304)", "get_not_modified.lua"),
    "confirm": ("confirm (keyed)", "confirm.lua"),
    "close": ("close (keyed)", "close.lua"),
    "list_first": ("list, first page", "list.lua"),
    "list_deep": ("list, deepest page", "list.lua"),
}
# Served as the app is, answering GET /healthz with less behind it.
FLOORS = {key: f"benchmarks.floor_{key}:application" for key in ("wsgi", "django")}


def seed(url: str, mode: Mode) -> None:
    """Both tenants through `manage.py seed_orders`; statistics fresh, buffers clean."""
    for prefix, orders, extra in (
        ("deep-", mode.deep_orders, []),
        # Half live, half expired: without them a statement prepared on a near-empty
        # table keeps the plan of a tiny table while the run fills it.
        ("load-", mode.load_orders, ["--idempotency-keys", str(mode.load_orders // 2)]),
    ):
        log(f"seeding {orders:,} orders for {prefix}1")
        tenant = ["--tenants", "1", "--tenant-prefix", prefix, "--no-progress", *extra]
        stack.manage(url, "seed_orders", "--orders", str(orders), *tenant)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        conn.execute("CHECKPOINT")


def setup_django(url: str) -> None:
    """This process on the bench database, for recording the app's statements."""
    os.environ.update(stack.app_env(url, ACCESS_LOG_LEVEL="WARNING"))
    import django

    django.setup()


def prepare_ids(url: str, workdir: Path, runs: int) -> dict[str, Any]:
    """ "id version" files for wrk, one share per run for the writes (which use their orders
    up), and the `bench_ids` side table for pgbench, from a share of its own."""
    files: dict[str, list[Path]] = {}
    counts = {}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_ids")
        conn.execute("CREATE TABLE bench_ids (op text, n int, id uuid, PRIMARY KEY (op, n))")
        for op, status in (("get", "closed"), ("confirm", "draft"), ("close", "confirmed")):
            rows = conn.execute(
                "SELECT id, version FROM orders WHERE tenant_id = %s AND status = %s "
                "ORDER BY random() LIMIT 200000",
                [LOAD_TENANT, status],
            ).fetchall()
            shares = 1 if op == "get" else runs + 1
            size = len(rows) // shares
            files[op] = []
            for n in range(shares):
                files[op].append(workdir / f"ids-{op}-{n}.txt")
                share = rows[n * size : (n + 1) * size] if shares > 1 else rows
                files[op][-1].write_text("".join(f"{oid} {v}\n" for oid, v in share))
            ceiling_share = rows if op == "get" else rows[runs * size :]
            with conn.cursor() as cursor, cursor.copy("COPY bench_ids FROM STDIN") as copy:
                for n, (oid, _) in enumerate(ceiling_share, start=1):
                    copy.write_row((op, n, oid))
            counts[op] = len(ceiling_share)
        (fingerprint,) = conn.execute(ANY_KEY).fetchall()[0]
        conn.execute(
            "INSERT INTO idempotency_keys (tenant_id, key, fingerprint, response_status,"
            " response_headers, response_body, created_at, expires_at) VALUES (%s,"
            " 'pgbench-replay', %s, 201, '{}', '\\x7b7d', now(), now() + interval '1 day')",
            [LOAD_TENANT, fingerprint],
        )
        conn.execute("ANALYZE")
    defines = {
        "fingerprint": fingerprint,
        "nget": str(counts["get"]),
        # A short run can outlast its share of orders: the writes then wrap around.
        "nconfirm": str(counts["confirm"]),
        "nclose": str(counts["close"]),
        "replaykey": "pgbench-replay",
    }
    defines |= {"tenant": LOAD_TENANT, "deeptenant": DEEP_TENANT, "clients": str(PGBENCH_CLIENTS)}
    return {"files": files, "defines": {**defines, "i": "0", "base": "0"}}


def post_order(server: Server, key: str) -> None:
    """Create one order with `key`, so that every later request with it is a replay."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    headers = {"X-Tenant-Id": LOAD_TENANT, "Idempotency-Key": key}
    conn.request("POST", "/orders", "{}", {**headers, "Content-Type": "application/json"})
    status = conn.getresponse().status
    conn.close()
    if status != 201:
        raise SystemExit(f"bench: priming the replay key answered {status}")


def walk(server: Server, repeats: int) -> dict[str, Any]:
    """The deep tenant page by page over HTTP, as a client pages it; then its first and
    deepest pages (20 orders) timed in turns, and the way back when there is one."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    path, pages, previous, page = f"/orders?limit={WALK_LIMIT}", 0, None, None
    started = time.monotonic()
    while True:
        status, body = get(server.port, path, DEEP_TENANT, conn)
        if status != 200:
            raise SystemExit(f"bench: {path} answered {status} during the walk")
        pages += 1
        if not body["nextCursor"] or len(body["items"]) < WALK_LIMIT:
            break
        previous, page = page, body
        path = f"/orders?limit={WALK_LIMIT}&cursor={body['nextCursor']}"
    if page is None or previous is None:
        raise SystemExit("bench: the deep tenant has too few orders to walk")
    log(f"walked {pages:,} pages in {time.monotonic() - started:.0f} s")
    deep_cursor, deepest = previous["nextCursor"], page  # the last full page
    paths = {"first": FIRST_PAGE, "deepest": f"{FIRST_PAGE}&cursor={deep_cursor}"}
    if deepest.get("prevCursor"):  # back from the second page, and from the deepest
        second = get(server.port, FIRST_PAGE, DEEP_TENANT)[1]["nextCursor"]
        back = get(server.port, f"{FIRST_PAGE}&cursor={second}", DEEP_TENANT)[1]["prevCursor"]
        paths["back_first"] = f"{FIRST_PAGE}&cursor={back}"
        paths["back_deepest"] = f"{FIRST_PAGE}&cursor={deepest['prevCursor']}"
    samples: dict[str, list[float]] = {name: [] for name in paths}
    for attempt in range(repeats + 1):  # in turns: a burst of load lands on all alike
        for name, each in paths.items():
            began = time.perf_counter()
            status, _ = get(server.port, each, DEEP_TENANT, conn)
            if status != 200:
                raise SystemExit(f"bench: {each} answered {status}")
            if attempt:  # the first round warms the caches, uncounted
                samples[name].append((time.perf_counter() - began) * 1000)
    conn.close()
    last = previous["items"][-1]
    return {
        "pages": pages,
        "orders": pages * WALK_LIMIT,
        "ms": {name: statistics.median(values) for name, values in samples.items()},
        "deep_path": paths["deepest"],
        "deep_keyset": {"deepts": last["createdAt"], "deepid": last["id"]},
    }


def wrk_env(
    name: str, ids: dict[str, list[Path]], run: int, key: str, deep: str
) -> dict[str, str]:
    """What an operation's wrk script reads from its environment (see wrk/common.lua)."""
    env = {"BENCH_TENANT": LOAD_TENANT, "BENCH_KEY": key}
    if name in ("get", "get_not_modified"):
        env["BENCH_IDS"] = str(ids["get"][0])
    if name in ("confirm", "close"):
        env["BENCH_IDS"] = str(ids[name][run])
    if name.startswith("list"):
        env |= {**WARM, "BENCH_PATH": deep if name == "list_deep" else FIRST_PAGE}
    return env


def pgbench(url: str, name: str, defines: dict[str, str], seconds: int) -> dict[str, Any]:
    """pgbench on benchmarks/pgbench/<name>.sql at the bench's concurrency: its tps."""
    bundled = pg_bin_dir() / "pgbench"  # the server's own version
    binary = str(bundled) if bundled.exists() else stack.tool("pgbench")
    command = [binary, "-n", "-M", "prepared", "-c", str(PGBENCH_CLIENTS), "-j", "2"]
    command += ["-T", str(seconds), "-f", str(statements.PGBENCH_DIR / f"{name}.sql")]
    for variable, value in defines.items():
        command += ["-D", f"{variable}={value}"]
    done = subprocess.run([*command, url], capture_output=True, text=True, check=False)
    match = re.search(r"tps = ([\d.]+) \(without initial connection time\)", done.stdout)
    if done.returncode != 0 or match is None:
        raise SystemExit(f"bench: pgbench {name} failed:\n{done.stdout}{done.stderr}")
    return {"tps": float(match.group(1))}


def measure(url: str, workdir: Path, mode: Mode) -> dict[str, Any]:
    """The floors, the walk, every operation in every shape and at every connection count,
    then the ceilings."""
    ids = prepare_ids(url, workdir, len(SHAPES) * len(CONNECTIONS))
    results: dict[str, Any] = {"floors": {}, "load": {}, "ceiling": {}}
    healthz = {"BENCH_PATH": "/healthz"}
    for key, app in FLOORS.items():
        server = start("direct", url, workdir, BENCH_APP=app)
        try:
            results["floors"][key] = run_wrk(server, "list.lua", healthz, mode.seconds, 8)
        finally:
            server.stop()
    # Enough room behind the front door for every connection of the one tenant here:
    # make serve's defaults allow one tenant half the workers and queue four per worker.
    room = str(max(CONNECTIONS))
    limits = {"PROXY_TENANT_MAX_CONCURRENT": room, "PROXY_MAX_QUEUE": room}
    run = 0
    for shape in SHAPES:
        log(f"starting {shape} ({stack.workers()} workers)")
        server = start(shape, url, workdir, **limits)
        try:
            if "walk" not in results:
                results["walk"] = walk(server, mode.depth_repeats)
            key = f"bench-replay-{uuid.uuid4().hex}"
            post_order(server, key)
            run_wrk(server, "list.lua", WARM, 2, 8)  # imports and connections paid first
            results["floors"][f"app_{shape}"] = run_wrk(
                server, "list.lua", healthz, mode.seconds, 8
            )
            for connections in CONNECTIONS:
                for name in OPERATIONS:
                    env = wrk_env(name, ids["files"], run, key, results["walk"]["deep_path"])
                    figures = run_wrk(server, OPERATIONS[name][1], env, mode.seconds, connections)
                    results["load"].setdefault(name, {})[f"{shape}-{connections}"] = figures
                    log(
                        f"{shape} c{connections} {name}: {figures['rps']:.0f} req/s, "
                        f"{figures['workers_cpu_us']:.0f} µs CPU, {figures['errors']} errors"
                    )
                run += 1
        finally:
            server.stop()
    defines = {**ids["defines"], **results["walk"]["deep_keyset"]}
    for name in OPERATIONS:
        results["ceiling"][name] = pgbench(url, name, defines, mode.seconds)
        log(f"ceiling {name}: {results['ceiling'][name]['tps']:.0f} tps")
    return results


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"model name\s*:\s*(.+)", cpuinfo)
    return {
        "commit": stack.revision(),
        "cpu": model.group(1).strip() if model else platform.processor(),
        "cores": str(len(os.sched_getaffinity(0))),
        "python": platform.python_version(),
        "load_before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def main(argv: list[str]) -> int:
    """Run the benchmark and write its results; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="smoke mode: small and short")
    parser.add_argument("--seconds", type=int, default=0, help="seconds per run")
    args = parser.parse_args(argv)
    mode = QUICK if args.quick else FULL
    if args.seconds:
        mode = dataclasses.replace(mode, seconds=args.seconds)
    for name in ("wrk", "haproxy"):
        stack.tool(name)
    started, about = time.monotonic(), machine()
    with (
        tempfile.TemporaryDirectory(prefix="bench-") as tmp,
        stack.database(Path(tmp), "orders_bench") as url,
    ):
        workdir = Path(tmp)
        stack.manage(url, "migrate", "--noinput", "-v", "0")
        seed(url, mode)
        setup_django(url)
        recorded = statements.record(COUNT_TENANT)
        drifted = statements.drift(recorded)
        for name, pair in drifted.items():
            log(f"WARNING: benchmarks/pgbench/{name}.sql no longer sends the app's SQL: {pair}")
        with psycopg.connect(url) as conn:
            about["postgresql"] = conn.info.parameter_status("server_version") or "?"
        results = measure(url, workdir, mode)
    results.update(
        mode=dataclasses.asdict(mode),
        measured_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        machine={**about, "load_after": " ".join(f"{x:.2f}" for x in os.getloadavg())},
        server_options=" ".join(stack.SERVER_OPTIONS),
        workers=stack.workers(),
        statements=recorded,
        drift=drifted,
        titles={name: title for name, (title, _) in OPERATIONS.items()},
        seconds=round(time.monotonic() - started),
    )
    name = "quick-run" if args.quick else "last-run"
    out = stack.RESULTS_DIR / name
    stack.RESULTS_DIR.mkdir(exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    text = report.render(results)
    out.with_suffix(".md").write_text(text)
    print(text)
    log(f"results in {stack.RESULTS_DIR.relative_to(stack.BASE_DIR)}/{name}.{{json,md}}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
