"""Where the cores went while one measurement ran.

Throughput alone cannot say whether a run was short of CPU or waiting (on a commit's
WAL flush, say), nor whose CPU it was. `CoreMeter` reads the CPU time of each party
before and after: the app server's process tree (gunicorn's master and workers), the
PostgreSQL server's (the postmaster and every backend), the load generator (wrk or
pgbench, children this process waits for) and the whole machine (from /proc/stat).
Whatever the machine spent besides those three is "other" (the kernel's interrupt work,
autovacuum's launcher is PostgreSQL's, other programs); what it did not spend is idle.

A tree's time counts processes that ended during the measurement too: a parent's
`children_user`/`children_system` hold the time of the children it has reaped, so
PostgreSQL backends that come and go are not lost. PostgreSQL's share is also told apart
into its background processes (checkpointer, WAL writer, autovacuum, ...: work the
statements leave behind, or a seed's) and the rest, the backends serving the clients.
"""

from __future__ import annotations

import re
import resource
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import psutil

# What a PostgreSQL process calls itself in `ps` when it serves no client (after the
# cluster's name, when it has one: "postgres: 15/main: checkpointer"); a backend is
# "postgres: <user> <database> <client> <state>", so a role or database with one of these
# names does not match. Only live processes are told apart: an autovacuum worker that
# starts and ends within a measurement is counted with the backends (it is reaped into
# the postmaster's children time, as they are).
_POSTGRES_BACKGROUND = re.compile(
    r"postgres: (?:[^:]*: )?"
    r"(?:(?:checkpointer|background writer|walwriter|walsummarizer|autovacuum launcher"
    r"|logical replication launcher|archiver|stats collector|startup)\s*$"
    r"|(?:autovacuum worker|walsender|walreceiver|logical replication (?:parallel )?worker"
    r"|io worker|archiver)\b)"
)


def _tree_seconds(root: psutil.Process) -> tuple[float, float]:
    """CPU seconds of `root` and its descendants so far, reaped children included; and
    of those, the seconds of the live PostgreSQL background processes."""
    total = background = 0.0
    for process in (root, *root.children(recursive=True)):
        try:
            times = process.cpu_times()
            title = " ".join(process.cmdline())
        except psutil.NoSuchProcess:
            continue  # gone between listing and reading: its parent has (or will) count it
        seconds = times.user + times.system + times.children_user + times.children_system
        total += seconds
        if _POSTGRES_BACKGROUND.match(title):
            background += seconds
    return total, background


def _waited_children_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _machine() -> tuple[float, float]:
    """(busy, idle) CPU seconds of the whole machine since boot."""
    times = psutil.cpu_times()._asdict()
    idle = times.pop("idle") + times.pop("iowait", 0.0)
    times.pop("steal", None)  # another guest's, on a virtual machine
    # Linux counts the time of guests this machine runs in user/nice already.
    times.pop("guest", None)
    times.pop("guest_nice", None)
    return sum(times.values()), idle


@dataclass(frozen=True)
class CoreSplit:
    """Cores used, on average over `seconds`, by each party. With idle they add up to the
    machine's cores, unless the parties' own times (read per process) exceed the
    machine's busy time (read from /proc/stat) by rounding, when `other` is 0."""

    seconds: float
    server: float
    postgres: float
    client: float
    other: float
    idle: float
    # Of `postgres`: its background processes (checkpointer, WAL writer, autovacuum, ...).
    postgres_background: float = 0.0

    def per_request_ms(self, party: str, requests: float) -> float:
        """That party's CPU milliseconds per request (or transaction)."""
        return getattr(self, party) * self.seconds / requests * 1000 if requests else 0.0

    def as_dict(self) -> dict[str, Any]:
        """The figures, rounded, for a results file (`CoreSplit(**d)` reads them back)."""
        return {name: round(getattr(self, name), 4) for name in self.__dataclass_fields__}


class CoreMeter:
    """`with CoreMeter(server_pid=..., postgres_pid=...) as meter:` around one load run
    (started and waited for inside the block); `meter.split` after it.

    `server_pid` is None for a run with no app server (pgbench against PostgreSQL);
    `postgres_pid` is None when the server runs on another machine (its CPU is not ours)."""

    split: CoreSplit

    def __init__(self, *, server_pid: int | None, postgres_pid: int | None) -> None:
        self._server = psutil.Process(server_pid) if server_pid is not None else None
        self._postgres = psutil.Process(postgres_pid) if postgres_pid is not None else None

    def _read(self) -> tuple[float, float, float, float, float, float, float]:
        busy, idle = _machine()
        server, _ = _tree_seconds(self._server) if self._server is not None else (0.0, 0.0)
        postgres, background = (
            _tree_seconds(self._postgres) if self._postgres is not None else (0.0, 0.0)
        )
        return (
            time.monotonic(),
            server,
            postgres,
            background,
            _waited_children_seconds(),
            busy,
            idle,
        )

    def __enter__(self) -> CoreMeter:
        self._start = self._read()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if kind is not None:
            return
        wall, server, postgres, background, client, busy, idle = (
            after - before for after, before in zip(self._read(), self._start, strict=True)
        )
        other = max(0.0, busy - server - postgres - client)
        self.split = CoreSplit(
            seconds=wall,
            server=server / wall,
            postgres=postgres / wall,
            client=client / wall,
            other=other / wall,
            idle=idle / wall,
            postgres_background=background / wall,
        )


def backend_process(cursor: Any) -> psutil.Process | None:
    """The PostgreSQL backend serving `cursor`'s connection, when the server runs on
    this machine (else None)."""
    cursor.execute("SELECT pg_backend_pid()")
    pid = cursor.fetchone()[0]
    try:
        backend = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return None  # a server elsewhere: its backend's pid means nothing here
    return backend if "postgres" in backend.name() else None


def postmaster_pid(cursor: Any) -> int | None:
    """The PostgreSQL server's own pid, when it runs on this machine (else None)."""
    backend = backend_process(cursor)
    parent = backend.parent() if backend is not None else None
    if parent is None or "postgres" not in parent.name():
        return None
    return parent.pid
