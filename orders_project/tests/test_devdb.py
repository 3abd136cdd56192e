"""scripts/devdb.py, the one embedded-PostgreSQL launcher: a cluster of its own on a unix
socket only, whatever else listens on this machine, and a stale pid file never mistaken
for a running server."""

import os
import subprocess
import sys
from pathlib import Path

import psycopg

from scripts.devdb import Cluster

DEVDB = Path(__file__).resolve().parents[2] / "scripts" / "devdb.py"


def test_a_cluster_listens_on_its_own_socket_and_no_tcp_port(tmp_path: Path) -> None:
    # given
    cluster = Cluster(tmp_path / "pgdata")

    # when
    cluster.start()
    try:
        url = cluster.create_database("orders_probe")
        with psycopg.connect(url) as conn:
            listen = conn.execute("SHOW listen_addresses").fetchall()[0][0]
            sockets = conn.execute("SHOW unix_socket_directories").fetchall()[0][0]
    finally:
        cluster.stop(mode="immediate")

    # then: nothing on TCP, so no port of another PostgreSQL (5432 or any) can clash
    assert listen == ""
    assert sockets == str(tmp_path / "pgdata")
    assert cluster.postmaster() is None


def test_a_stale_pid_file_naming_another_program_is_no_running_server(tmp_path: Path) -> None:
    # given: a postmaster.pid left by a server that is gone, its pid now this pytest's
    data = tmp_path / "pgdata"
    data.mkdir()
    lines = [str(os.getpid()), str(data), "0", "5432", str(data), "", "0 0", "ready"]
    (data / "postmaster.pid").write_text("\n".join(lines) + "\n")

    # then
    assert Cluster(data).postmaster() is None
    status = subprocess.run(  # noqa: S603 (this interpreter, the repo's script)
        [sys.executable, str(DEVDB), "status"],
        env={**os.environ, "DEVDB_DIR": str(data)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert status.returncode == 3, status.stdout
    assert "not running" in status.stdout
