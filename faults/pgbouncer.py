"""A PgBouncer in transaction mode, started for a test run in front of a PostgreSQL.

Debian's `pgbouncer` package (1.18, before prepared-statement support), with a
configuration, pid file and log of its own in a temporary directory and a free TCP port
on 127.0.0.1: never the system's service or port 6432. `.ci/run` installs the package;
tests that need it call `require_pgbouncer()` first.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest

from faults.stack import START_TIMEOUT_S, StackError, free_port, stop_process
from scripts.devdb import SERVER_SYSTEM_USER, ensure_system_user

PGBOUNCER = "pgbouncer"
_DEBIAN_PATH = Path("/usr/sbin/pgbouncer")


def pgbouncer_binary() -> str | None:
    """The pgbouncer executable (Debian puts it in /usr/sbin), if installed."""
    return shutil.which(PGBOUNCER) or (str(_DEBIAN_PATH) if _DEBIAN_PATH.exists() else None)


def require_pgbouncer() -> None:
    """Skip the calling test without PgBouncer, saying how to install it; under CI
    (CI=true), where .ci/run installs it and a skip would hide a missing piece, fail."""
    if pgbouncer_binary() is None:
        message = "needs PgBouncer: apt-get install -y pgbouncer"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


class PgBouncer:
    """pool_mode=transaction in front of `host`:`port` (a unix socket directory or a
    host name), for the user `user`, trusting it as the server behind does."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        user: str = "postgres",
        pool_size: int = 20,
        max_client_conn: int = 200,
    ) -> None:
        self.user = user
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
        self.config = self.root / "pgbouncer.ini"
        (self.root / "users.txt").write_text(f'"{user}" ""\n')
        run_as = ""
        if os.geteuid() == 0:
            # PgBouncer refuses to run as root; it drops to the suite's server user.
            run_as = SERVER_SYSTEM_USER
            ensure_system_user(run_as)
            entry = pwd.getpwnam(run_as)
            for path in (self.root, *self.root.iterdir()):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        self.config.write_text(
            "\n".join(
                [
                    "[databases]",
                    f"* = host={host} port={port}",
                    "[pgbouncer]",
                    "listen_addr = 127.0.0.1",
                    f"listen_port = {self.port}",
                    "unix_socket_dir =",
                    "auth_type = trust",
                    f"auth_file = {self.root / 'users.txt'}",
                    f"admin_users = {user}",
                    "pool_mode = transaction",
                    f"default_pool_size = {pool_size}",
                    f"max_client_conn = {max_client_conn}",
                    # Bounded waits, as deploy/pgbouncer/pgbouncer.ini has them: a query
                    # that finds no server connection in time fails (the app answers
                    # 503), and a server that refused a login is retried after 1 s.
                    "query_wait_timeout = 2",
                    "server_login_retry = 1",
                    f"logfile = {self.root / 'pgbouncer.log'}",
                    f"pidfile = {self.root / 'pgbouncer.pid'}",
                    *([f"user = {run_as}"] if run_as else []),
                    "",
                ]
            )
        )
        binary = pgbouncer_binary()
        if binary is None:
            raise StackError("pgbouncer is not installed: apt-get install -y pgbouncer")
        self.process = subprocess.Popen(
            [binary, str(self.config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        self._wait_ready()

    def url(self, dbname: str) -> str:
        """A DATABASE_URL to `dbname` through this PgBouncer."""
        return f"postgres://{quote(self.user)}@127.0.0.1:{self.port}/{quote(dbname)}"

    def reconnect(self) -> None:
        """Replace every server connection once it is released (the admin console's
        RECONNECT): new sessions start with the role's current defaults."""
        with psycopg.connect(self.url("pgbouncer"), autocommit=True) as admin:
            admin.execute("RECONNECT")

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = (self.root / "pgbouncer.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        error: Exception | None = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                with psycopg.connect(self.url("pgbouncer"), autocommit=True, connect_timeout=5):
                    return
            except psycopg.Error as exc:
                error = exc
                time.sleep(0.1)
        self.close()
        raise StackError(f"PgBouncer did not start ({error}):\n{self.log_tail()}")

    def close(self) -> None:
        """Stop PgBouncer and remove its directory."""
        stop_process(self.process, timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)
