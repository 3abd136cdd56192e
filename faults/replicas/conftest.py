"""Two API replicas and two relays through one PgBouncer to one PostgreSQL.

The fault suite's tests run here again (test_replicas.py imports them) with these
fixtures in place of the single gunicorn: `server` is both replicas (two gunicorn
masters on their own ports, DB_TRANSACTION_POOLING=true, through a PgBouncer in
transaction mode) and `api` sends each request to the next replica in turn. Two
`outbox_relay` processes run meanwhile through the same PgBouncer: one LISTENs over a
direct OUTBOX_LISTEN_DATABASE_URL, the other has none and polls.

FAULTS_REPLICA_WORKERS   gunicorn workers per replica (2)
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

from faults.client import Client, Reply, Stats
from faults.pgbouncer import PgBouncer, require_pgbouncer
from faults.stack import Database, Server, django_env, manage, spawn, start_server, stop_process
from faults.stack import wait_ready as wait_server_ready

REPLICAS = 2
RELAY_POLL_INTERVAL_S = "0.5"
# Every replica and relay goes through PgBouncer in transaction mode, as deployed.
POOLED = {"DB_TRANSACTION_POOLING": "true"}


@dataclass
class _Masters:
    """The replicas' gunicorn masters, polled as one process: any exit is the exit."""

    servers: list[Server]

    def poll(self) -> int | None:
        for server in self.servers:
            if server.process.poll() is not None:
                return server.process.returncode
        return None

    @property
    def returncode(self) -> int | None:
        return self.poll()


@dataclass
class Replicas:
    """Both replicas, seen by the fault suite's tests as the one `server` they expect:
    `workers()` is every worker of both, `process` exits when either master does, and
    `port` (what `wait_ready` probes) is the first replica's; the fixture below waits
    for each replica after every test."""

    servers: list[Server]

    @property
    def port(self) -> int:
        return self.servers[0].port

    @property
    def base_url(self) -> str:
        return self.servers[0].base_url

    @property
    def process(self) -> _Masters:
        return _Masters(self.servers)

    def workers(self) -> list[psutil.Process]:
        return [worker for server in self.servers for worker in server.workers()]

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(f"[{s.port}]\n{s.log_tail(lines)}" for s in self.servers)


class RoundRobinClient(Client):
    """A Client that sends each request to the next replica, as a load balancer would."""

    def __init__(
        self, ports: itertools.cycle[int], stats: Stats, tenant: str | None = None
    ) -> None:
        super().__init__(0, stats, tenant)
        self.ports = ports

    def for_tenant(self, tenant: str | None) -> Client:
        return RoundRobinClient(self.ports, self.stats, tenant)

    def request(self, method: str, path: str, **options: Any) -> Reply:
        return Client(next(self.ports), self.stats, self.tenant).request(method, path, **options)


@dataclass
class Relay:
    """One `manage.py outbox_relay` process; it prints each event it publishes."""

    name: str
    process: subprocess.Popen[bytes]
    output: Path

    def published_text(self) -> str:
        return self.output.read_text(errors="replace")


# Package scope: PgBouncer, the replicas and their relays stop once this package is done,
# so the rest of the suite sees only its own server's connections (test_limits counts them).
@pytest.fixture(scope="package")
def pgbouncer(database: Database) -> Iterator[PgBouncer]:
    """PgBouncer in transaction mode in front of the suite's PostgreSQL."""
    require_pgbouncer()
    with database.connect() as conn:
        info = conn.info
        host, port, user = info.host, info.port, info.user
    bouncer = PgBouncer(host=host, port=port, user=user)
    yield bouncer
    bouncer.close()


@pytest.fixture(scope="package")
def pooled_url(database: Database, pgbouncer: PgBouncer) -> str:
    """DATABASE_URL through PgBouncer, with the limits applied as a release would."""
    with database.connect() as conn:
        dbname = conn.info.dbname
    url = pgbouncer.url(dbname)
    manage(url, "apply_db_limits", **POOLED)
    pgbouncer.reconnect()
    return url


@pytest.fixture(scope="package")
def server(pooled_url: str, workdir: Path) -> Iterator[Replicas]:
    """Two gunicorn replicas through PgBouncer, ready."""
    workers = int(os.environ.get("FAULTS_REPLICA_WORKERS", "2"))
    servers: list[Server] = []
    try:
        servers.extend(
            start_server(pooled_url, workdir, workers=workers, DB_TRANSACTION_POOLING="true")
            for _ in range(REPLICAS)
        )
        yield Replicas(servers)
    finally:
        for started in servers:
            started.stop()


@pytest.fixture(scope="package")
def relays(
    pooled_url: str, database: Database, workdir: Path, server: Replicas
) -> Iterator[list[Relay]]:
    """Two relays through PgBouncer: one LISTENs on a direct URL, one polls."""
    started: list[Relay] = []
    listen = {"OUTBOX_LISTEN_DATABASE_URL": database.url}
    try:
        for name, extra in (("listening", listen), ("polling", {})):
            output = workdir / f"relay-{name}.out"
            env = django_env(
                pooled_url, **POOLED, OUTBOX_POLL_INTERVAL=RELAY_POLL_INTERVAL_S, **extra
            )
            env.pop("OUTBOX_BROKER_URL", None)  # each event is printed as a JSON line
            process = spawn(
                [sys.executable, "manage.py", "outbox_relay"], env=env, log_path=output
            )
            started.append(Relay(name, process, output))
        yield started
    finally:
        for relay in started:
            stop_process(relay.process, timeout=30)


@pytest.fixture(autouse=True)
def _server_survives(request: pytest.FixtureRequest) -> Iterator[None]:
    """Whatever a test did, both replicas and both relays must still be up after it."""
    if "server" in request.fixturenames:
        request.getfixturevalue("relays")  # running from the first test on
    yield
    if "server" in request.fixturenames:
        replicas: Replicas = request.getfixturevalue("server")
        for replica in replicas.servers:
            assert replica.process.poll() is None, f"gunicorn died:\n{replica.log_tail()}"
            wait_server_ready(replica, timeout=30)
        for relay in request.getfixturevalue("relays"):
            assert relay.process.poll() is None, f"relay {relay.name} died"


@pytest.fixture
def api(server: Replicas, stats: Stats) -> Client:
    """A client with no tenant that spreads its requests over both replicas."""
    return RoundRobinClient(itertools.cycle(s.port for s in server.servers), stats)
