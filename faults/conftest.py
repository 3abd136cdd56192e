"""Session fixtures: a dedicated PostgreSQL, migrated, and gunicorn with several workers.

FAULTS_DATABASE_URL   use this PostgreSQL instead of an embedded one (its stop/start
                      commands: FAULTS_DB_STOP_CMD / FAULTS_DB_START_CMD)
FAULTS_WORKERS        gunicorn workers (4)
FAULTS_REPORT         where the run's figures are written (faults/last-run.json,
                      ignored by git: a run never dirties the checkout)
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from faults.client import Client, Stats
from faults.stack import (
    REPO_ROOT,
    Database,
    EmbeddedDatabase,
    GivenDatabase,
    Server,
    migrate,
    remove_tree,
    start_server,
    wait_ready,
)

STATS = Stats()
RUN_ID = uuid.uuid4().hex[:8]
_started = time.monotonic()


def pytest_configure(config: pytest.Config) -> None:
    # A SIGTERM (a CI time-out, a kill) unwinds like Ctrl-C, so the fixtures still stop
    # gunicorn and the suite's PostgreSQL instead of leaving them running.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


@pytest.fixture(scope="session")
def stats() -> Stats:
    """The run's counters (requests sent, faults injected, inputs tried, writes lost)."""
    return STATS


@pytest.fixture(scope="session")
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="faults-"))
    yield path
    remove_tree(path)


@pytest.fixture(scope="session")
def database(workdir: Path) -> Iterator[Database]:
    """The suite's own PostgreSQL (or FAULTS_DATABASE_URL's), migrated."""
    given = os.environ.get("FAULTS_DATABASE_URL")
    db: Database = GivenDatabase(given, os.environ) if given else EmbeddedDatabase(workdir)
    try:
        migrate(db.url)
        yield db
    finally:
        db.close()


@pytest.fixture(scope="session")
def server(database: Database, workdir: Path) -> Iterator[Server]:
    """gunicorn with gunicorn.conf.py and FAULTS_WORKERS workers, ready."""
    workers = int(os.environ.get("FAULTS_WORKERS", "4"))
    started = start_server(database.url, workdir, workers=workers)
    yield started
    started.stop()


@pytest.fixture(autouse=True)
def _server_survives(request: pytest.FixtureRequest) -> Iterator[None]:
    """Whatever a test did to it, the shared server must still be up and ready after."""
    yield
    if "server" in request.fixturenames:
        server: Server = request.getfixturevalue("server")
        assert server.process.poll() is None, f"gunicorn died:\n{server.log_tail()}"
        wait_ready(server, timeout=30)


@pytest.fixture
def api(server: Server, stats: Stats) -> Client:
    """A client with no tenant; `api.for_tenant(t)` acts for one."""
    return Client(server.port, stats)


@pytest.fixture
def tenant_name(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """Tenant ids unique to this run and test, so audits never see anyone else's rows."""
    test = request.node.name.split("[")[0].removeprefix("test_").replace("_", "-")[:16]
    # Parametrized runs of one test share its name: the node id tells them apart.
    tag = hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:6]

    def make(suffix: str) -> str:
        return f"f{RUN_ID}-{test}-{tag}-{suffix}"[:64]

    return make


@pytest.fixture
def sql(database: Database) -> Iterator[psycopg.Connection]:
    """An autocommit connection to the suite's database, for audits in SQL."""
    with database.connect() as conn:
        yield conn


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Write the run's figures for docs/RELIABILITY.md."""
    if not STATS.counts:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    outcomes = (
        {
            name: len(reporter.stats.get(name, []))
            for name in ("passed", "failed", "error", "skipped")
        }
        if reporter
        else {}
    )
    report = {
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "duration_s": round(time.monotonic() - _started, 1),
        "command": "make test-faults",
        "args": sys.argv[1:],
        "exit_status": int(exitstatus),
        "tests": outcomes,
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "workers": int(os.environ.get("FAULTS_WORKERS", "4")),
            "database": "FAULTS_DATABASE_URL"
            if os.environ.get("FAULTS_DATABASE_URL")
            else "embedded PostgreSQL (pgserver)",
        },
        "counts": dict(sorted(STATS.counts.items())),
        "figures": dict(sorted(STATS.figures.items())),
    }
    path = Path(os.environ.get("FAULTS_REPORT") or REPO_ROOT / "faults" / "last-run.json")
    path.write_text(json.dumps(report, indent=2) + "\n")
