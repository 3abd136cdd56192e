"""Before/after throughput: two versions of the app on one database, in alternating rounds.

    make bench-ab BEFORE=<rev> [BENCH_ARGS='--rounds 3 --seconds 5 --shape serve']

On two shared cores two runs of the same code differ by up to ±30 %, so one `make bench`
run each cannot tell a 20 % change from noise. This checks BEFORE out into a temporary git
worktree, seeds one PostgreSQL (migrated with this checkout's migrations: the schema both
versions run on) as the smoke bench does, then serves each version in turn, round after
round, and drives it with this checkout's wrk scripts at 8 connections. It prints the
median req/s of each operation and after ÷ before, and writes
benchmarks/results/ab-<before>-<after>.json (ignored by git).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import run, stack
from benchmarks.stack import log, run_wrk, start

MEASURED = ("create", "replay", "get", "get_not_modified", "confirm", "close", "list_first")


@contextlib.contextmanager
def checked_out(rev: str, workdir: Path) -> Iterator[Path]:
    """`rev` checked out under `workdir` for as long as the block runs."""
    tree = workdir / "before"
    stack.git("worktree", "add", "--detach", str(tree), rev)
    try:
        yield tree
    finally:
        stack.git("worktree", "remove", "--force", str(tree))


def table(before: str, after: str, rps: dict[str, dict[str, list[float]]]) -> str:
    """Median req/s of each version per operation, and after ÷ before."""
    lines = [
        f"| operation | before ({before}) req/s | after ({after}) req/s | after ÷ before |",
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
    parser.add_argument("--shape", choices=("direct", "serve"), default="direct")
    args = parser.parse_args(argv)
    before, after = stack.git("rev-parse", "--short", args.before), stack.revision()
    names = ["healthz", *MEASURED]
    rps: dict[str, dict[str, list[float]]] = {n: {before: [], after: []} for n in names}
    with (
        tempfile.TemporaryDirectory(prefix="bench-ab-") as tmp,
        checked_out(args.before, Path(tmp)) as tree,
        stack.database(Path(tmp), "orders_ab") as url,
    ):
        stack.manage(url, "migrate", "--noinput", "-v", "0")
        run.seed(url, run.QUICK)
        ids = run.prepare_ids(url, Path(tmp), 2 * args.rounds)["files"]
        turn = 0
        for round_number in range(1, args.rounds + 1):
            for version, root in ((before, tree), (after, stack.BASE_DIR)):
                server = start(args.shape, url, Path(tmp), BENCH_ROOT=str(root))
                try:
                    key = f"bench-ab-{version}-{turn}"
                    run.post_order(server, key)
                    run_wrk(server, "list.lua", run.WARM, 2, 8)
                    for name in names:
                        if name == "healthz":
                            script, env = "list.lua", {"BENCH_PATH": "/healthz"}
                        else:
                            script = run.OPERATIONS[name][1]
                            env = run.wrk_env(name, ids, turn, key, run.FIRST_PAGE)
                        result = run_wrk(server, script, env, args.seconds, 8)
                        if result["errors"]:
                            raise SystemExit(f"ab: {version} {name}: {result['errors']} errors")
                        rps[name][version].append(result["rps"])
                        log(f"round {round_number} {version} {name}: {result['rps']:.0f} req/s")
                finally:
                    server.stop()
                turn += 1
    text = table(before, after, rps)
    figures = {**vars(args), "workers": stack.workers(), "rps": rps, "table": text}
    stack.RESULTS_DIR.mkdir(exist_ok=True)
    out = stack.RESULTS_DIR / f"ab-{before}-{after}.json"
    out.write_text(json.dumps(figures, indent=2) + "\n")
    log(f"results in {out.relative_to(stack.BASE_DIR)}")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
