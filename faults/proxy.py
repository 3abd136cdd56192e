"""`make serve`'s shape under test: deploy/serve.py (HAProxy in front of gunicorn on a
unix socket) on the suite's PostgreSQL, started and stopped here."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from faults.stack import (
    REPO_ROOT,
    Server,
    StackError,
    django_env,
    free_port,
    ready,
    spawn,
    stop_process,
)


@dataclass
class FrontDoor(Server):
    """deploy/serve.py: HAProxy on 127.0.0.1:port, gunicorn behind it, restarted if it dies.

    A Server to every helper that polls one (wait_ready, log_tail); its process is
    serve.py, whose children are HAProxy and the gunicorn master.
    """

    def gunicorn_master(self) -> psutil.Process:
        """The gunicorn master serve.py is running now."""
        for child in psutil.Process(self.process.pid).children():
            if "gunicorn" in " ".join(child.cmdline()):
                return child
        raise StackError(f"serve.py runs no gunicorn:\n{self.log_tail()}")

    def stop(self) -> None:
        # serve.py stops HAProxy and gunicorn itself; killed, it would leave them running.
        stop_process(self.process, timeout=60, kill_tree=True)


def start_front_door(database_url: str, workdir: Path, *, workers: int, **extra: str) -> FrontDoor:
    """deploy/serve.py with production settings on a free port; returns once /readyz is 200
    through the proxy. `extra` sets PROXY_* (or any other) variables."""
    port = free_port()
    state_dir = workdir / f"serve-{port}"
    env = django_env(
        database_url,
        HOST="127.0.0.1",
        PORT=str(port),
        WEB_CONCURRENCY=str(workers),
        GUNICORN_LOGLEVEL="warning",
        PROXY_LOG_LEVEL="warning",  # the suite counts requests itself
        SERVE_STATE_DIR=str(state_dir),
        **extra,
    )
    log_path = workdir / f"serve-{port}.log"
    process = spawn([sys.executable, "deploy/serve.py"], env=env, log_path=log_path)
    return ready(FrontDoor(port=port, process=process, log_path=log_path, env=env))


def kill_gunicorn(door: FrontDoor) -> int:
    """SIGKILL gunicorn's master and its workers at once (an OOM kill, a crashed host
    process); returns the dead master's pid."""
    master = door.gunicorn_master()
    victims = [master, *master.children()]
    for process in victims:
        os.kill(process.pid, signal.SIGKILL)
    psutil.wait_procs(victims, timeout=10)
    return master.pid


def wait_for_new_master(door: FrontDoor, old_pid: int, timeout: float = 30) -> int:
    """The pid of the gunicorn serve.py started after `old_pid` died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            pid = door.gunicorn_master().pid
        except (StackError, psutil.Error):
            pid = old_pid
        if pid != old_pid:
            return pid
        time.sleep(0.1)
    raise StackError(f"serve.py did not restart gunicorn within {timeout}s:\n{door.log_tail()}")


def create_api_key(door: FrontDoor, tenant: str) -> str:
    """A new API key of `tenant` (`manage.py create_api_key`, which prints it once)."""
    command = [sys.executable, "manage.py", "create_api_key", "--tenant", tenant]
    result = subprocess.run(
        [*command, "--name", "faults"],
        cwd=REPO_ROOT,
        env=door.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise StackError(f"create_api_key failed:\n{result.stdout}{result.stderr}")
    return result.stdout.strip()
