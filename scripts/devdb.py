#!/usr/bin/env python3
"""Project-local embedded PostgreSQL for `make run` / `make test` / `make lint`.

Uses pgserver (a wheel that ships real PostgreSQL binaries). The cluster lives in
``<repo>/.pgdata`` (override with ``DEVDB_DIR``) and listens only on a unix
socket inside that directory -- never on TCP, so it cannot clash with another
PostgreSQL on 127.0.0.1:5432.

    scripts/devdb.py url     start the server if needed, create the `orders`
                             database if missing, print DATABASE_URL (only that)
    scripts/devdb.py status  exit 0 and describe the server if running, else exit 3
    scripts/devdb.py stop    stop the server if running (pg_ctl -m fast)

The printed URL has the form
``postgres://postgres@/orders?host=<socket dir>&port=<port>``: libpq, psql,
psycopg and django-environ all read it (django-environ passes ``host``/``port``
through as connection OPTIONS). The seemingly simpler ``postgres://postgres@
%2F<dir>/orders`` is NOT used: django-environ 0.14 leaves such a host
percent-encoded and Django then tries to resolve it as a host name.

Everything but the URL (pgserver logging, initdb output, warnings) goes to
stderr. Safe to run concurrently and repeatedly: an exclusive flock on the data
directory serialises callers, and a second call on a running server is fast.

``stop`` and ``status`` only need the standard library (so `make clean` works
even when the virtualenv is gone); ``url`` needs pgserver and psycopg.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import logging
import os
import pwd
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

REPO_ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "orders"
DB_USER = "postgres"
STOP_TIMEOUT_S = 60

log = logging.getLogger("devdb")


def err(message: str) -> None:
    print(f"devdb: {message}", file=sys.stderr)


def data_dir() -> Path:
    raw = os.environ.get("DEVDB_DIR") or str(REPO_ROOT / ".pgdata")
    return Path(raw).expanduser().resolve()


def ensure_runtime_dir() -> None:
    """Give platformdirs (used by pgserver for its lock file) a sane
    XDG_RUNTIME_DIR, so that it does not warn about falling back to one."""
    if os.environ.get("XDG_RUNTIME_DIR"):
        return
    uid = os.getuid()
    run_user = Path(f"/run/user/{uid}")
    if run_user.is_dir() and os.access(run_user, os.W_OK | os.X_OK):
        os.environ["XDG_RUNTIME_DIR"] = str(run_user)
        return
    # Same place platformdirs itself falls back to, so every pgserver user on
    # this machine agrees on where its lock file lives.
    fallback = Path(tempfile.gettempdir()) / f"runtime-{uid}"
    fallback.mkdir(mode=0o700, exist_ok=True)
    os.environ["XDG_RUNTIME_DIR"] = str(fallback)


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Route everything written to fd 1 (by us, pgserver or child processes)
    to stderr, so stdout carries nothing but the final answer."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


@contextlib.contextmanager
def locked(pgdata: Path) -> Iterator[None]:
    """Exclusive inter-process lock on the data directory itself (no extra
    file: initdb wants an empty directory)."""
    fd = os.open(pgdata, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


# --------------------------------------------------------------------------
# postmaster.pid / pg_ctl helpers (standard library only)


@dataclass(frozen=True)
class Postmaster:
    pid: int
    port: int
    socket_dir: Path | None
    status: str


def read_postmaster(pgdata: Path) -> Postmaster | None:
    """Parse PGDATA/postmaster.pid; None when absent, unreadable or partial."""
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
    except OSError:
        return None
    if len(lines) < 8:
        return None
    try:
        pid = int(lines[0].strip())
        port = int(lines[3].strip())
    except ValueError:
        return None
    socket_dir = lines[4].strip()
    return Postmaster(
        pid=pid,
        port=port,
        socket_dir=Path(socket_dir) if socket_dir else None,
        status=lines[7].strip(),
    )


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    # Guard against PID reuse (e.g. a stale postmaster.pid after a reboot).
    comm = Path(f"/proc/{pid}/comm")
    if comm.exists():
        try:
            return comm.read_text().strip() in ("postgres", "postmaster")
        except OSError:
            return False
    return True


def running_postmaster(pgdata: Path) -> Postmaster | None:
    info = read_postmaster(pgdata)
    if info is None or not process_alive(info.pid):
        return None
    return info


def pg_bin_dir() -> Path | None:
    """pgserver's bundled PostgreSQL bin dir, found without importing pgserver."""
    spec = importlib.util.find_spec("pgserver")
    if spec is None or spec.origin is None:
        return None
    bin_dir = Path(spec.origin).parent / "pginstall" / "bin"
    return bin_dir if (bin_dir / "pg_ctl").exists() else None


def server_user(pgdata: Path) -> str | None:
    """PostgreSQL refuses to run as root: pgserver then runs it as the
    `pgserver` system user, which owns the data directory."""
    if os.geteuid() != 0:
        return None
    return pwd.getpwuid(pgdata.stat().st_uid).pw_name


def build_url(socket_dir: Path, port: int, dbname: str = DB_NAME) -> str:
    host = quote(str(socket_dir), safe="/")
    return f"postgres://{DB_USER}@/{dbname}?host={host}&port={port}"


# --------------------------------------------------------------------------
# subcommands


def ensure_database(socket_dir: Path, port: int) -> None:
    # Imported lazily: `stop` and `status` must work without the venv.
    import psycopg
    from psycopg import errors, sql

    with psycopg.connect(
        host=str(socket_dir),
        port=port,
        user=DB_USER,
        dbname="postgres",
        autocommit=True,
        connect_timeout=10,
    ) as conn:
        query = "SELECT 1 FROM pg_database WHERE datname = %s"
        if conn.execute(query, (DB_NAME,)).fetchone():
            return
        try:
            create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DB_NAME))
            conn.execute(create)
            log.info("created database %s", DB_NAME)
        except errors.DuplicateDatabase:
            pass  # created meanwhile by someone not holding our lock


def start_server(pgdata: Path) -> tuple[Path, int]:
    ensure_runtime_dir()
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")
    # Only after XDG_RUNTIME_DIR is set: pgserver resolves its lock path on import.
    from pgserver.postgres_server import get_server

    if not (pgdata / "PG_VERSION").exists() and any(pgdata.iterdir()):
        raise RuntimeError(
            f"{pgdata} is neither empty nor an initialised PostgreSQL cluster "
            "(an interrupted initdb?). Remove it (make clean) and retry."
        )
    server = get_server(pgdata, cleanup_mode=None)
    info = server.get_postmaster_info()
    if info.socket_dir is None or info.port is None:
        raise RuntimeError(f"server in {pgdata} has no unix socket: {info}")
    return info.socket_dir, info.port


def cmd_url() -> int:
    pgdata = data_dir()
    with stdout_to_stderr():
        try:
            pgdata.mkdir(mode=0o700, parents=True, exist_ok=True)
            with locked(pgdata):
                socket_dir, port = start_server(pgdata)
                ensure_database(socket_dir, port)
        except Exception as exc:
            err(f"could not start the embedded PostgreSQL: {exc}")
            err(f"server log: {pgdata / 'log'}")
            return 1
    print(build_url(socket_dir, port))
    return 0


def cmd_status() -> int:
    pgdata = data_dir()
    info = running_postmaster(pgdata) if pgdata.is_dir() else None
    if info is None:
        print(f"devdb: not running ({pgdata})")
        return 3
    print(f"devdb: running, pid {info.pid}, status {info.status}, data {pgdata}")
    if info.socket_dir is not None:
        print(f"DATABASE_URL={build_url(info.socket_dir, info.port)}")
    return 0


def cmd_stop() -> int:
    pgdata = data_dir()
    if not pgdata.is_dir():
        err(f"nothing to stop ({pgdata} does not exist)")
        return 0
    with locked(pgdata):
        info = running_postmaster(pgdata)
        if info is None:
            err("not running")
            return 0
        bin_dir = pg_bin_dir()
        if bin_dir is not None:
            cmd = [str(bin_dir / "pg_ctl"), "-D", str(pgdata), "-m", "fast", "-w"]
            cmd += ["-t", str(STOP_TIMEOUT_S), "stop"]
            result = subprocess.run(
                cmd,
                user=server_user(pgdata),
                cwd=pgdata,
                stdin=subprocess.DEVNULL,
                stdout=sys.stderr,
                stderr=sys.stderr,
                check=False,
            )
            if result.returncode != 0 and running_postmaster(pgdata) is not None:
                err(f"pg_ctl stop failed ({result.returncode})")
                return 1
        else:
            # No pgserver (e.g. the venv is gone): SIGINT is "fast shutdown".
            os.kill(info.pid, signal.SIGINT)
            deadline = time.monotonic() + STOP_TIMEOUT_S
            while process_alive(info.pid):
                if time.monotonic() > deadline:
                    err(f"postmaster {info.pid} did not stop")
                    return 1
                time.sleep(0.1)
    err("stopped")
    return 0


COMMANDS = {"url": cmd_url, "status": cmd_status, "stop": cmd_stop}


def main(argv: list[str]) -> int:
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.DEBUG if os.environ.get("DEVDB_DEBUG") else logging.WARNING,
        format="devdb: %(name)s: %(levelname)s: %(message)s",
    )
    if len(argv) != 1 or argv[0] not in COMMANDS:
        err(f"usage: {Path(sys.argv[0]).name} {{{'|'.join(COMMANDS)}}}")
        return 2
    return COMMANDS[argv[0]]()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
