#!/usr/bin/env python3
"""The project's one embedded-PostgreSQL launcher: `make`, the tests, the fault suite and
the benchmarks all start their PostgreSQL through `Cluster`.

A cluster runs pgserver's PostgreSQL binaries (a wheel) on a data directory of its own
and listens only on a unix socket in that directory, never on TCP, so it cannot clash
with another PostgreSQL on this machine, whatever port that one holds.

    scripts/devdb.py url     start the cluster in <repo>/.pgdata (or DEVDB_DIR) if needed,
                             create the `orders` database if missing, print DATABASE_URL
    scripts/devdb.py status  exit 0 and describe the server if running, else exit 3
    scripts/devdb.py stop    stop the server if running (a fast shutdown)

The URL has the form ``postgres://postgres@/orders?host=<socket dir>&port=<port>``, which
libpq, psql, psycopg and django-environ all read (``postgres://postgres@%2F<dir>/orders``
is not used: django-environ 0.14 leaves such a host percent-encoded). Everything but the
URL goes to stderr. Concurrent calls are safe: an exclusive flock on the data directory
serialises them. `stop` and `status` need only the standard library (so `make clean`
works without the virtualenv); starting a cluster needs pgserver, a database psycopg.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import os
import pwd
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

REPO_ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "orders"
DB_USER = "postgres"
# PostgreSQL refuses to run as root: as root, the server runs as this system user
# (pgserver's own convention, so clusters it made earlier keep working).
SERVER_SYSTEM_USER = "pgserver"
TIMEOUT_S = 60
# A unix socket path longer than this (sun_path, less a margin) cannot be bound.
MAX_SOCKET_PATH = 100


class ClusterError(RuntimeError):
    """The cluster could not be initialised, started or stopped."""


def process_alive(pid: int) -> bool:
    """Whether a process with this pid exists (owned by anyone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


@dataclass(frozen=True)
class Postmaster:
    """What a running server wrote in PGDATA/postmaster.pid."""

    pid: int
    port: int
    socket_dir: Path
    status: str


class Cluster:
    """A PostgreSQL cluster in `data`, on a unix socket only.

    `options` are extra server settings (``-c name=value``), given on every start.
    """

    def __init__(self, data: Path, *, options: Sequence[str] = ()) -> None:
        self.data = data
        self.options = list(options)
        self.log = data / "log"
        self.user = ensure_system_user(SERVER_SYSTEM_USER) if os.geteuid() == 0 else None

    def postmaster(self) -> Postmaster | None:
        """The server running on this cluster now, if any."""
        try:
            lines = (self.data / "postmaster.pid").read_text().splitlines()
            pid, port = int(lines[0]), int(lines[3])
            socket_dir, status = Path(lines[4].strip()), lines[7].strip()
        except (OSError, ValueError, IndexError):
            return None
        # A stale file (after a reboot, a kill -9) may name a pid reused by another program.
        comm = Path(f"/proc/{pid}/comm")
        if not process_alive(pid) or (
            comm.exists() and comm.read_text().strip() not in ("postgres", "postmaster")
        ):
            return None
        return Postmaster(pid=pid, port=port, socket_dir=socket_dir, status=status)

    def url(self, dbname: str = DB_NAME) -> str:
        """The DATABASE_URL of `dbname` on the running server."""
        info = self.postmaster()
        if info is None:
            raise ClusterError(f"no server is running in {self.data}")
        return build_url(info.socket_dir, info.port, dbname)

    def _run(self, program: str, *args: str) -> None:
        result = subprocess.run(
            [str(pg_bin_dir() / program), *args],
            user=self.user,
            group=self.user,  # not root's group, which may reach what "others" may not
            extra_groups=[] if self.user else None,
            cwd=self.data,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S + 10,
            check=False,
        )
        if result.returncode != 0:
            output = result.stdout + result.stderr
            raise ClusterError(f"{program} {' '.join(args)} failed:\n{output}")

    def initialise(self) -> None:
        """initdb, unless the data directory already holds a cluster."""
        self.data.mkdir(mode=0o700, parents=True, exist_ok=True)
        if (self.data / "PG_VERSION").exists():
            return
        if any(self.data.iterdir()):
            raise ClusterError(
                f"{self.data} is neither empty nor a PostgreSQL cluster (an interrupted "
                "initdb?): remove it and retry."
            )
        if self.user is not None:
            reachable_by_others(self.data.parent, pg_bin_dir())
            entry = pwd.getpwnam(self.user)
            os.chown(self.data, entry.pw_uid, entry.pw_gid)
        self._run("initdb", "-D", str(self.data), "--auth=trust", "-U", DB_USER, "-E", "utf8")

    def start(self) -> None:
        """Start the server (initialising the cluster first if needed); a no-op if it runs."""
        self.initialise()
        if self.postmaster() is not None:
            return
        socket_dir = socket_dir_for(self.data)
        if self.user is not None and socket_dir != self.data:
            socket_dir.chmod(0o777)
        options = " ".join(["-h ''", f"-k {socket_dir}", *self.options])
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options,
            "-w", "-t", str(TIMEOUT_S), "start",
        )  # fmt: skip

    def stop(self, *, mode: str = "fast") -> None:
        """Stop the server: `fast` cuts sessions and checkpoints; `immediate` is a power
        cut (recovery replays the WAL on the next start). A no-op if it is not running."""
        info = self.postmaster()
        if info is None:
            return
        if importlib.util.find_spec("pgserver") is not None:
            wait = ["-w", "-t", str(TIMEOUT_S)]
            self._run("pg_ctl", "-D", str(self.data), "-m", mode, *wait, "stop")
            return
        # No pgserver (the venv is gone): SIGINT is a fast shutdown, SIGQUIT an immediate one.
        os.kill(info.pid, signal.SIGQUIT if mode == "immediate" else signal.SIGINT)
        deadline = time.monotonic() + TIMEOUT_S
        while process_alive(info.pid):
            if time.monotonic() > deadline:
                raise ClusterError(f"postmaster {info.pid} did not stop")
            time.sleep(0.1)

    def create_database(self, dbname: str) -> str:
        """Create `dbname` unless it exists; its URL."""
        import psycopg  # only here: `stop` and `status` must work without the venv
        from psycopg import errors, sql

        with psycopg.connect(self.url("postgres"), autocommit=True, connect_timeout=10) as conn:
            exists = "SELECT 1 FROM pg_database WHERE datname = %s"
            if not conn.execute(exists, [dbname]).fetchone():
                with contextlib.suppress(errors.DuplicateDatabase):  # made meanwhile
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
        return self.url(dbname)


def pg_bin_dir() -> Path:
    """pgserver's bundled PostgreSQL binaries, found without importing pgserver."""
    spec = importlib.util.find_spec("pgserver")
    if spec is None or spec.origin is None:
        raise ClusterError("pgserver is not installed: pip install -r requirements-dev.txt")
    bin_dir = Path(spec.origin).parent / "pginstall" / "bin"
    if not (bin_dir / "pg_ctl").exists():
        raise ClusterError(f"no pg_ctl in {bin_dir}")
    return bin_dir


def ensure_system_user(name: str) -> str:
    """The system user `name` (a root-started server runs as one), created if missing."""
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "-s", "/bin/false", name], check=True)
    return name


def reachable_by_others(*paths: Path) -> None:
    """Let the server's system user traverse to the data directory and the binaries."""
    for path in paths:
        for each in (path, *path.parents):
            each.chmod(each.stat().st_mode | 0o005)


def socket_dir_for(data: Path) -> Path:
    """The data directory, unless its socket path would be too long for the kernel."""
    if len(str(data / ".s.PGSQL.65535")) <= MAX_SOCKET_PATH:
        return data
    digest = hashlib.sha256(f"{data}-{data.stat().st_ino}".encode()).hexdigest()[:10]
    short = Path(tempfile.gettempdir()) / f"devdb-{digest}"
    short.mkdir(mode=0o700, exist_ok=True)
    return short


def build_url(socket_dir: Path, port: int, dbname: str = DB_NAME) -> str:
    """A DATABASE_URL for a server on a unix socket."""
    return f"postgres://{DB_USER}@/{dbname}?host={quote(str(socket_dir), safe='/')}&port={port}"


# --------------------------------------------------------------------- the command line


def err(message: str) -> None:
    print(f"devdb: {message}", file=sys.stderr)


def project_cluster() -> Cluster:
    """The cluster of `make` and the tests: <repo>/.pgdata, or DEVDB_DIR."""
    raw = os.environ.get("DEVDB_DIR") or str(REPO_ROOT / ".pgdata")
    return Cluster(Path(raw).expanduser().resolve())


@contextlib.contextmanager
def locked(directory: Path) -> Iterator[None]:
    """An exclusive lock on the directory itself (initdb wants it empty: no lock file)."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def cmd_url(cluster: Cluster) -> int:
    try:
        with locked(cluster.data):
            cluster.start()
            url = cluster.create_database(DB_NAME)
    except Exception as exc:  # any failure: reported, with the log's path
        err(f"could not start the embedded PostgreSQL: {exc}")
        err(f"server log: {cluster.log}")
        return 1
    print(url)
    return 0


def cmd_status(cluster: Cluster) -> int:
    info = cluster.postmaster()
    if info is None:
        print(f"devdb: not running ({cluster.data})")
        return 3
    print(f"devdb: running, pid {info.pid}, status {info.status}, data {cluster.data}")
    print(f"DATABASE_URL={build_url(info.socket_dir, info.port)}")
    return 0


def cmd_stop(cluster: Cluster) -> int:
    if not cluster.data.is_dir():
        err(f"nothing to stop ({cluster.data} does not exist)")
        return 0
    with locked(cluster.data):
        if cluster.postmaster() is None:
            err("not running")
            return 0
        try:
            cluster.stop()
        except ClusterError as exc:
            err(str(exc))
            return 1
    err("stopped")
    return 0


COMMANDS = {"url": cmd_url, "status": cmd_status, "stop": cmd_stop}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in COMMANDS:
        err(f"usage: {Path(sys.argv[0]).name} {{{'|'.join(COMMANDS)}}}")
        return 2
    return COMMANDS[argv[0]](project_cluster())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
