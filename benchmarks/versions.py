"""Two versions of the app side by side: an older revision in a worktree, and this one."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

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


def measured_now() -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
