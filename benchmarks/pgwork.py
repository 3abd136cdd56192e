"""What PostgreSQL did while one measurement ran: transactions, buffers, WAL.

CPU time (cores.py) says how much PostgreSQL spent on a request; these counts say on
what. `WorkMeter` reads PostgreSQL's cumulative statistics before and after a run:
`pg_stat_database` for this database's transactions and buffer accesses (shared buffers
found, plus blocks read), and `pg_stat_wal` for the cluster's WAL records, full-page
images and bytes. A request that costs the server more than its ceiling transaction
shows here as more buffers per request (a worse plan: a scan where the ceiling's
statement took an index) or more WAL (full-page images after a checkpoint, say).

A backend reports its counts to the shared statistics when a transaction ends, at most
once a second, and otherwise when it exits: an idle persistent connection keeps the rest
to itself (seen here: four connections that had run 69,000 transactions in 3 s and then
sat idle had reported fewer than a third of them 12 s later, and all of them once
closed). So before each reading the meter ends the database's other client sessions and
waits for them to go: pgbench's have ended already, and the app's pooled connections are
replaced on their next request (its health check sees the closed socket), a handful of
new sessions at the start of a run. The meter's own readings are a transaction each.
Ending sessions is for a database the bench started itself: run.py meters no other.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields
from types import TracebackType

from faults.stack import Database

_OTHER_SESSIONS = """
SELECT pid FROM pg_stat_activity
WHERE datname = current_database() AND backend_type = 'client backend'
  AND pid <> pg_backend_pid()
"""
_EXIT_REPORT_SECONDS = 0.2
_END_SESSIONS = "SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid"
_READ = """
SELECT d.xact_commit + d.xact_rollback, d.blks_hit + d.blks_read,
       w.wal_records, w.wal_fpi, w.wal_bytes
FROM pg_stat_database AS d, pg_stat_wal AS w
WHERE d.datname = current_database()
"""


@dataclass(frozen=True)
class PgWork:
    """Counts over one run (or, read once, since the statistics were last reset)."""

    transactions: int
    buffers: int
    wal_records: int
    wal_fpi: int
    wal_bytes: int

    def per(self, requests: float) -> dict[str, float]:
        """Each count per request (or transaction), for a results file."""
        return {
            field.name: getattr(self, field.name) / requests if requests else 0.0
            for field in fields(self)
        }

    def __sub__(self, before: PgWork) -> PgWork:
        return PgWork(
            *(getattr(self, field.name) - getattr(before, field.name) for field in fields(self))
        )


def read_work(db: Database, *, timeout: float = 10.0) -> PgWork:
    """The counts once every other session of the database has ended and reported."""
    with db.connect() as conn:
        deadline = time.monotonic() + timeout
        ended = False
        while others := [pid for (pid,) in conn.execute(_OTHER_SESSIONS).fetchall()]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"sessions {others} did not end within {timeout} s")
            conn.execute(_END_SESSIONS, [others])
            ended = True
            time.sleep(0.05)
        if ended:
            # An exiting backend may leave pg_stat_activity a moment before it has written
            # its counts out.
            time.sleep(_EXIT_REPORT_SECONDS)
        # current_database() always has its row in pg_stat_database
        row = conn.execute(_READ).fetchall()[0]
    return PgWork(*(int(value) for value in row))


class WorkMeter:
    """`with WorkMeter(db) as work:` around one load run; `work.done` after it."""

    done: PgWork

    def __init__(self, db: Database) -> None:
        self._db = db

    def __enter__(self) -> WorkMeter:
        self._start = read_work(self._db)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if kind is not None:
            return
        self.done = read_work(self._db) - self._start
