"""Before/after throughput: two versions of the app on one database, in alternating rounds.

    .venv/bin/python benchmarks/ab.py --before 22b216c [--rounds 3] [--seconds 5]

A single `make bench` run measures each operation once, for 10 s; on two shared cores two
such runs of the same code differ by up to ±30 %, so they cannot tell a 20 % change from
noise. This script checks `--before` out into a temporary git worktree, starts one
embedded PostgreSQL (migrated with this checkout's migrations, the schema both versions
then run on), seeds it as `make bench BENCH_QUICK=1` does, and then, round after round,
serves each version in turn (the same gunicorn settings, the JSON access log on) and
drives it with wrk at the bench's concurrency. Alternating spreads the machine's drift
over both versions. Writes benchmarks/results/ab-<before>-<after>.json and prints the
median req/s of each operation and the ratio after/before.

Confirm and close use up their orders: each run gets its own share of the seeded drafts
and confirmed orders, so no run touches an order another one changed. The reads take
closed orders, which nothing changes, so every round's 304s stay 304s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from benchmarks.run import (  # noqa: E402
    DEEP_TENANT,
    FULL,
    LOAD_TENANT,
    QUICK,
    bench_concurrency,
    find_wrk,
    log,
    prime_replay_key,
    run_wrk,
    seed,
    settle,
)
from benchmarks.versions import compared, write_comparison  # noqa: E402
from faults.stack import EmbeddedDatabase, start_server  # noqa: E402

# (name, wrk script, environment, the status of the orders in its ids file: get, 304,
# confirm and close read theirs; the others are handed the unchanging closed ones and
# ignore them).
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


def _ids_files(db: EmbeddedDatabase, workdir: Path, runs: int) -> dict[str, list[Path]]:
    """Per status, "id version" files: drafts and confirmed orders are split into one
    share per run, so that no run reuses another's; every run reads the same closed ones,
    whose versions no run changes."""
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


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--before", required=True, help="git revision to compare against")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5, help="seconds per operation")
    args = parser.parse_args(argv)
    wrk = find_wrk()
    rps: dict[str, dict[str, list[float]]] = {name: {} for name, _, _, _ in OPERATIONS}
    with compared(args.before, name="ab") as (versions, db, workdir):
        seed(db.url, QUICK)
        settle(db)
        ids = _ids_files(db, workdir, 2 * args.rounds)
        workers, threads = bench_concurrency()
        roots = {
            f"before ({versions.before})": versions.tree,
            f"after ({versions.after})": BASE_DIR,
        }
        run = 0
        for round_number in range(1, args.rounds + 1):
            for label, root in roots.items():
                run += 1
                server = start_server(
                    db.url,
                    workdir,
                    workers=workers,
                    root=root,
                    GUNICORN_THREADS=str(threads),
                    LOG_LEVEL="INFO",
                    ACCESS_LOG_LEVEL="INFO",
                )
                try:
                    key = prime_replay_key(server.base_url)
                    warm = {"BENCH_TENANT": LOAD_TENANT, "BENCH_PATH": "/orders"}
                    run_wrk(
                        wrk,
                        server.base_url,
                        "list.lua",
                        warm,
                        connections=FULL.concurrency,
                        seconds=2,
                    )
                    for name, script, env, kind in OPERATIONS:
                        files = ids[kind]
                        share = files[(run - 1) % len(files)]
                        extra = {"BENCH_IDS": str(share), "BENCH_KEY": key}
                        result = run_wrk(
                            wrk,
                            server.base_url,
                            script,
                            env | extra,
                            connections=FULL.concurrency,
                            seconds=args.seconds,
                        )
                        if result["errors"]:
                            raise SystemExit(f"ab: {label} {name}: {result['errors']} errors")
                        rps[name].setdefault(label, []).append(result["rps"])
                        log(f"round {round_number} {label} {name}: {result['rps']:.0f} req/s")
                finally:
                    server.stop()
    before, after = roots
    write_comparison(
        "ab",
        versions,
        "req/s",
        [
            (name, statistics.median(by_label[before]), statistics.median(by_label[after]))
            for name, by_label in rps.items()
        ],
        lambda rate: f"{rate:,.0f}",
        {
            "rounds": args.rounds,
            "seconds": args.seconds,
            "workers": workers,
            "threads": threads,
            "rps": rps,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
