"""Two versions of the app side by side: an older revision in a worktree, and this one."""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.run import SERVER_OPTIONS, log, measured_now, write_results
from faults.stack import EmbeddedDatabase, migrate, remove_tree

BASE_DIR = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Versions:
    before: str  # the older revision, short
    after: str  # HEAD, short, "+changes" when the working tree differs
    tree: Path  # a checkout of `before`


def git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=BASE_DIR, check=True, capture_output=True, text=True
    ).stdout.strip()


@contextlib.contextmanager
def checked_out(revision: str, workdir: Path) -> Iterator[Versions]:
    """`revision` checked out under `workdir` for as long as the block runs."""
    before = git("rev-parse", "--short", revision)
    after = git("rev-parse", "--short", "HEAD")
    if git("status", "--porcelain", "--untracked-files=no"):
        after += "+changes"
    tree = workdir / "before"
    git("worktree", "add", "--detach", str(tree), before)
    try:
        yield Versions(before=before, after=after, tree=tree)
    finally:
        subprocess.run(
            ["git", "worktree", "remove", "--force", str(tree)], cwd=BASE_DIR, check=False
        )


@contextlib.contextmanager
def compared(revision: str, *, name: str) -> Iterator[tuple[Versions, EmbeddedDatabase, Path]]:
    """`revision` checked out beside this checkout, and one embedded PostgreSQL migrated
    with this checkout's migrations (the schema both run on), in a work folder of their
    own; all of it removed afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
    db: EmbeddedDatabase | None = None
    try:
        with checked_out(revision, workdir) as versions:
            log(f"starting PostgreSQL in {workdir}")
            db = EmbeddedDatabase(workdir, dbname=f"orders_{name}", server_options=SERVER_OPTIONS)
            migrate(db.url)
            yield versions, db, workdir
    finally:
        if db is not None:
            db.close()
        remove_tree(workdir)


def write_comparison(
    kind: str,
    versions: Versions,
    unit: str,
    rows: Iterable[tuple[str, float, float]],
    show: Callable[[float], str],
    figures: dict[str, Any],
) -> None:
    """The before/after table of (operation, before, after) rows, kept with `figures` in
    benchmarks/results/<kind>-<before>-<after>.json, and printed."""
    before, after = versions.before, versions.after
    lines = [
        f"| operation | before ({before}) {unit} | after ({after}) {unit} | after / before |",
        "| --- | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {name} | {show(first)} | {show(second)} | {second / first:.2f} |"
        for name, first, second in rows
    ]
    table = "\n".join(lines)
    results = {"measured_at": measured_now(), "before": before, "after": after}
    write_results(f"{kind}-{before}-{after}", {**results, **figures, "table": table}, table)
