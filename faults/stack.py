"""The stack under test: a dedicated PostgreSQL and gunicorn, started and stopped here.

The PostgreSQL is scripts/devdb.py's launcher, as for `make run` and `make test`, but on a
cluster of its own in a temporary directory (a unix socket only), so the suite can stop
and restart it at will.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import psycopg

from scripts.devdb import Cluster, ClusterError

REPO_ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "orders_faults"
START_TIMEOUT_S = 60
# What the suite's Prometheus would send: /metrics answers nobody else.
METRICS_TOKEN = "faults-suite-metrics-token"  # noqa: S105 (the test stack's own)


class StackError(RuntimeError):
    """The stack could not be started, stopped or reached."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Database:
    """A PostgreSQL the suite may stop and start. Subclasses say how."""

    url: str

    def stop(self, *, crash: bool = False) -> None:
        """Stop the server: a fast shutdown (sessions cut, a checkpoint written), or with
        `crash` an immediate one, as a power cut: recovery replays the WAL on start."""
        raise NotImplementedError

    def start(self) -> None:
        """Start the server again, on the same address."""
        raise NotImplementedError

    def close(self) -> None:
        """Release whatever this object started."""

    def connect(self) -> psycopg.Connection:
        """An autocommit connection for audits."""
        return psycopg.connect(self.url, autocommit=True, connect_timeout=10)


class EmbeddedDatabase(Database):
    """A throw-away cluster in `root` (scripts/devdb.py's launcher, a unix socket only)."""

    def __init__(self, root: Path, *, dbname: str = DB_NAME) -> None:
        self.cluster = Cluster(root / "pgdata", options=["-c max_connections=60"])
        try:
            self.cluster.start()
            self.url = self.cluster.create_database(dbname)
        except ClusterError as exc:
            raise StackError(str(exc)) from exc

    def start(self) -> None:
        self.cluster.start()

    def stop(self, *, crash: bool = False) -> None:
        self.cluster.stop(mode="immediate" if crash else "fast")

    def close(self) -> None:
        self.cluster.stop(mode="immediate")


class GivenDatabase(Database):
    """FAULTS_DATABASE_URL: somebody else's PostgreSQL, stopped and started by commands
    they name (FAULTS_DB_STOP_CMD / FAULTS_DB_START_CMD), never guessed."""

    def __init__(self, url: str, env: Mapping[str, str]) -> None:
        self.url = url
        self.stop_cmd = env.get("FAULTS_DB_STOP_CMD", "")
        self.start_cmd = env.get("FAULTS_DB_START_CMD", "")

    def _shell(self, name: str, command: str) -> None:
        if not command:
            raise StackError(
                f"FAULTS_DATABASE_URL is set but {name} is not: the suite cannot stop and "
                f"restart that PostgreSQL. Set {name} (a shell command), or unset "
                "FAULTS_DATABASE_URL to let the suite run its own embedded PostgreSQL."
            )
        subprocess.run(shlex.split(command), check=True, timeout=START_TIMEOUT_S)

    def stop(self, *, crash: bool = False) -> None:
        # The given command decides how; the crash variant then proves the same as fast.
        self._shell("FAULTS_DB_STOP_CMD", self.stop_cmd)

    def start(self) -> None:
        self._shell("FAULTS_DB_START_CMD", self.start_cmd)


@dataclass
class Server:
    """One gunicorn master and its workers, serving the API on 127.0.0.1:port."""

    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str] = field(repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def workers(self) -> list[psutil.Process]:
        """The live worker processes (the master's children)."""
        try:
            return psutil.Process(self.process.pid).children()
        except psutil.NoSuchProcess:
            return []

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        stop_process(self.process, timeout=30)


def django_env(database_url: str, **extra: str) -> dict[str, str]:
    """The environment the app runs with: this database, production-like settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DB_"))}
    env.update(
        DATABASE_URL=database_url,
        DJANGO_SETTINGS_MODULE="orders_project.settings",
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY="faults-suite-secret-key-" + "x" * 40,
        LOG_LEVEL="WARNING",
        ACCESS_LOG_LEVEL="WARNING",  # the suite counts requests itself
        TENANT_AUTH_MODE="trusted-header",
        METRICS_TOKEN=METRICS_TOKEN,
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def manage(database_url: str, *args: str, **extra: str) -> None:
    """Run `manage.py <args>` against `database_url`, or fail with its output."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO_ROOT,
        env=django_env(database_url, **extra),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        raise StackError(f"{args[0]} failed:\n{result.stdout}{result.stderr}")


def migrate(database_url: str) -> None:
    """Apply every migration to the suite's database."""
    manage(database_url, "migrate", "--noinput")


def spawn(
    command: list[str], *, env: dict[str, str], log_path: Path, cwd: Path = REPO_ROOT
) -> subprocess.Popen[bytes]:
    """Start `command` with its stdout and stderr in `log_path`."""
    with log_path.open("wb") as log:
        return subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def stop_process(
    process: subprocess.Popen[bytes], *, timeout: float, kill_tree: bool = False
) -> None:
    """SIGTERM, then SIGKILL once `timeout` seconds have gone by (its descendants first
    with `kill_tree`); nothing for a process that has already exited."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        if kill_tree:
            for child in psutil.Process(process.pid).children(recursive=True):
                child.kill()
        process.kill()
        process.wait(timeout=10)


def ready[S: Server](server: S) -> S:
    """`server` once /readyz says 200; stopped, and the error raised, if it never does."""
    try:
        wait_ready(server)
    except BaseException:
        server.stop()
        raise
    return server


def start_server(
    database_url: str,
    log_dir: Path,
    *,
    workers: int,
    root: Path = REPO_ROOT,
    app: str = "orders_project.wsgi",
    **extra: str,
) -> Server:
    """gunicorn with gunicorn.conf.py on a free port; returns once /readyz says 200.

    `root` is the checkout to serve (benchmarks/ab.py serves an older one beside this);
    `app` the WSGI application (the bench's floors serve stand-ins under the same config).
    """
    port = free_port()
    env = django_env(
        database_url,
        HOST="127.0.0.1",
        PORT=str(port),
        WEB_CONCURRENCY=str(workers),
        GUNICORN_LOGLEVEL="warning",
        **extra,
    )
    log_path = log_dir / f"gunicorn-{port}.log"
    command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", app]
    process = spawn(command, env=env, log_path=log_path, cwd=root)
    return ready(Server(port=port, process=process, log_path=log_path, env=env))


def wait_ready(server: Server, timeout: float = START_TIMEOUT_S) -> None:
    """Poll /readyz until it answers 200, or fail with the server log."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise StackError(
                f"gunicorn exited ({server.process.returncode}):\n{server.log_tail()}"
            )
        with contextlib.suppress(OSError, http.client.HTTPException):
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
            try:
                conn.request("GET", "/readyz")
                response = conn.getresponse()
                response.read()
                if response.status == 200:
                    return
                last = f"HTTP {response.status}"
            finally:
                conn.close()
        time.sleep(0.2)
    raise StackError(f"/readyz never answered 200 ({last}):\n{server.log_tail()}")


@contextlib.contextmanager
def running_server(
    database_url: str, log_dir: Path, *, workers: int, **extra: str
) -> Iterator[Server]:
    """start_server, stopped on exit."""
    server = start_server(database_url, log_dir, workers=workers, root=REPO_ROOT, **extra)
    try:
        yield server
    finally:
        server.stop()


def remove_tree(path: Path) -> None:
    """Remove the suite's temporary directory, whoever owns its files."""
    shutil.rmtree(path, ignore_errors=True)
