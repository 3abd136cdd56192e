"""Before/after throughput: two versions of the app on one database, in alternating rounds.

    make bench-ab BEFORE=<rev> [BENCH_ARGS='--rounds 3 --seconds 5']

On two shared cores two runs of the same code differ by up to ±30 %, so one `make bench`
run each cannot tell a 20 % change from noise. This checks BEFORE out into a temporary
git worktree, starts one PostgreSQL migrated with this checkout's migrations (the schema
both versions run on), seeds it as the smoke bench does, then serves each version in turn,
round after round, and drives it with this checkout's wrk scripts. Writes
benchmarks/results/ab-<before>-<after>.json (ignored by git) and prints the median req/s
of each operation and the ratio after / before.

Confirm and close use up their orders: each run gets its own share of the drafts and
confirmed orders. The reads take closed orders, which nothing changes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from benchmarks.run import (  # noqa: E402
    DEEP_TENANT,
    LOAD_TENANT,
    QUICK,
    RESULTS_DIR,
    SERVER_OPTIONS,
    bench_concurrency,
    find_wrk,
    git,
    log,
    run_wrk,
    seed,
    serve_app,
    settle,
)
from faults.stack import EmbeddedDatabase, migrate, remove_tree  # noqa: E402

# (name, wrk script, environment, the status of the orders in its ids file: get, 304,
# confirm and close read theirs; the others ignore the closed ones they are handed).
OPERATIONS: tuple[tuple[str, str, dict[str, str], str], ...] = (
    ("healthz (floor)", "list.lua", {"BENCH_PATH": "/healthz"}, "closed"),
    ("create", "create.lua", {"BENCH_TENANT": LOAD_TENANT}, "closed"),
    ("replay", "replay.lua", {"BENCH_TENANT": LOAD_TENANT}, "closed"),
    ("get", "get.lua", {"BENCH_TENANT": LOAD_TENANT}, "closed"),
    ("get 304", "get_not_modified.lua", {"BENCH_TENANT": LOAD_TENANT}, "closed"),
    ("confirm", "confirm.lua", {"BENCH_TENANT": LOAD_TENANT}, "draft"),
    ("close", "close.lua", {"BENCH_TENANT": LOAD_TENANT}, "confirmed"),
    (
        "list, first page",
        "list.lua",
        {"BENCH_TENANT": DEEP_TENANT, "BENCH_PATH": "/orders?limit=20"},
        "closed",
    ),
)


@contextlib.contextmanager
def checked_out(revision: str, workdir: Path) -> Iterator[Path]:
    """`revision` checked out under `workdir` for as long as the block runs."""
    tree = workdir / "before"
    git("worktree", "add", "--detach", str(tree), revision)
    try:
        yield tree
    finally:
        subprocess.run(
            ["git", "worktree", "remove", "--force", str(tree)], cwd=BASE_DIR, check=False
        )


def ids_files(db: EmbeddedDatabase, workdir: Path, runs: int) -> dict[str, list[Path]]:
    """Per status, "id version" files: drafts and confirmed orders in one share per run,
    so that no run reuses another's; one file of closed orders for every run."""
    files: dict[str, list[Path]] = {}
    with db.connect() as conn:
        for kind in ("closed", "draft", "confirmed"):
            rows = conn.execute(
                "SELECT id, version FROM orders WHERE tenant_id = %s AND status = %s",
                [LOAD_TENANT, kind],
            ).fetchall()
            if not rows:
                raise SystemExit(f"ab: the seed left no {kind} orders")
            shares = 1 if kind == "closed" else runs
            size = len(rows) // shares
            files[kind] = []
            for run in range(shares):
                path = workdir / f"ids-{kind}-{run}.txt"
                share = rows[run * size : (run + 1) * size]
                path.write_text("".join(f"{order_id} {version}\n" for order_id, version in share))
                files[kind].append(path)
    return files


def table(before: str, after: str, rps: dict[str, dict[str, list[float]]]) -> str:
    """Median req/s of each version per operation, and after / before."""
    lines = [
        f"| operation | before ({before}) req/s | after ({after}) req/s | after / before |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, by_version in rps.items():
        first, second = (statistics.median(by_version[v]) for v in (before, after))
        lines.append(f"| {name} | {first:,.0f} | {second:,.0f} | {second / first:.2f} |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Run the comparison; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--before", required=True, help="git revision to compare against")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5, help="seconds per operation")
    args = parser.parse_args(argv)
    wrk = find_wrk()
    before = git("rev-parse", "--short", args.before)
    after = git("rev-parse", "--short", "HEAD")
    if git("status", "--porcelain", "--untracked-files=no"):
        after += "+changes"
    rps: dict[str, dict[str, list[float]]] = {
        name: {before: [], after: []} for name, *_ in OPERATIONS
    }
    workers, threads = bench_concurrency()
    workdir = Path(tempfile.mkdtemp(prefix="bench-ab-"))
    db: EmbeddedDatabase | None = None
    try:
        with checked_out(before, workdir) as tree:
            log(f"starting PostgreSQL in {workdir}")
            db = EmbeddedDatabase(workdir, dbname="orders_ab", server_options=SERVER_OPTIONS)
            migrate(db.url)
            seed(db.url, QUICK)
            settle(db)
            ids = ids_files(db, workdir, 2 * args.rounds)
            run = 0
            for round_number in range(1, args.rounds + 1):
                for version, root in ((before, tree), (after, BASE_DIR)):
                    server, key = serve_app(db.url, workdir, root)
                    try:
                        for name, script, env, kind in OPERATIONS:
                            share = ids[kind][run % len(ids[kind])]
                            settings = {**env, "BENCH_IDS": str(share), "BENCH_KEY": key}
                            result = run_wrk(wrk, server.base_url, script, settings, args.seconds)
                            if result["errors"]:
                                raise SystemExit(
                                    f"ab: {version} {name}: {result['errors']} errors"
                                )
                            rps[name][version].append(result["rps"])
                            log(
                                f"round {round_number} {version} {name}: {result['rps']:.0f} req/s"
                            )
                    finally:
                        server.stop()
                    run += 1
    finally:
        if db is not None:
            db.close()
        remove_tree(workdir)
    text = table(before, after, rps)
    figures = {
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "before": before,
        "after": after,
        "rounds": args.rounds,
        "seconds": args.seconds,
        "workers": workers,
        "threads": threads,
        "rps": rps,
        "table": text,
    }
    RESULTS_DIR.mkdir(exist_ok=True)
    out = RESULTS_DIR / f"ab-{before}-{after}.json"
    out.write_text(json.dumps(figures, indent=2) + "\n")
    log(f"results in {out.relative_to(BASE_DIR)}")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
