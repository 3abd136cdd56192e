"""What every benchmark starts and drives: its PostgreSQL, gunicorn or `make serve`'s
stack, wrk. The benchmarks talk to the app only over HTTP and its management commands."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import runpy
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from scripts.devdb import Cluster  # noqa: E402

WRK_DIR = BASE_DIR / "benchmarks" / "wrk"
RESULTS_DIR = BASE_DIR / "benchmarks" / "results"
# Fits the seeded orders and their indexes, so the app and pgbench both read from memory.
SERVER_OPTIONS = ("-c shared_buffers=512MB", "-c max_connections=200")
TIMEOUT_S = 60


def log(message: str) -> None:
    """A progress line on stderr."""
    print(f"bench: {message}", file=sys.stderr, flush=True)


def git(*args: str) -> str:
    """Run git in this checkout; its output."""
    done = subprocess.run(["git", *args], cwd=BASE_DIR, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def revision() -> str:
    """This checkout's short commit, with +changes when tracked files differ from it."""
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return git("rev-parse", "--short", "HEAD") + ("+changes" if dirty else "")


def tool(name: str) -> str:
    """An executable on PATH (or /usr/sbin, where Debian puts HAProxy), or a clear failure."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin")
    if not found:
        raise SystemExit(f"bench: {name} is not installed: apt-get install {name}")
    return found


@contextlib.contextmanager
def database(workdir: Path, dbname: str) -> Iterator[str]:
    """BENCH_DATABASE_URL, or a PostgreSQL of the bench's own in `workdir`: its URL."""
    if given := os.environ.get("BENCH_DATABASE_URL"):
        yield given
        return
    log(f"starting PostgreSQL in {workdir}")
    cluster = Cluster(workdir / "pgdata", options=SERVER_OPTIONS)
    cluster.start()
    try:
        yield cluster.create_database(dbname)
    finally:
        cluster.stop(mode="immediate")


def app_env(database_url: str, **extra: str) -> dict[str, str]:
    """The environment the app runs with here: production settings, one JSON access
    line per request (as `make run` writes it), the trusted-header tenant mode."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DB_"))}
    env.update(
        DATABASE_URL=database_url,
        DJANGO_SETTINGS_MODULE="orders_project.settings",
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY="benchmark-secret-key-" + "x" * 40,
        TENANT_AUTH_MODE="trusted-header",
        LOG_LEVEL="INFO",
        ACCESS_LOG_LEVEL="INFO",
        GUNICORN_LOGLEVEL="warning",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def manage(database_url: str, *args: str) -> None:
    """`manage.py <args>` against the bench database, with no statement timeout (a COPY of
    the seed may take minutes on a busy machine)."""
    env = app_env(database_url, DB_STATEMENT_TIMEOUT="0")
    subprocess.run([sys.executable, "manage.py", *args], cwd=BASE_DIR, env=env, check=True)


def workers() -> int:
    """The worker count gunicorn.conf.py settles on here (WEB_CONCURRENCY, or the cores)."""
    saved = dict(os.environ)  # the file sets the metrics folder of the gunicorn it configures
    try:
        return int(runpy.run_path(str(BASE_DIR / "gunicorn.conf.py"))["workers"])
    finally:
        os.environ.clear()
        os.environ.update(saved)


@dataclass
class Server:
    """gunicorn, or deploy/serve.py (HAProxy in front of gunicorn), on 127.0.0.1:port."""

    shape: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds used so far (psutil reads them from /proc) by the gunicorn workers
        (the children of a gunicorn master) and, behind `make serve`, by HAProxy."""
        with contextlib.suppress(psutil.NoSuchProcess):
            root = psutil.Process(self.process.pid)
            tree = [(p, " ".join(p.cmdline())) for p in [root, *root.children(recursive=True)]]
        gunicorns = {p.pid for p, line in tree if "gunicorn" in line}
        used = {"workers": 0.0, "haproxy": 0.0}
        for process, line in tree:
            kind = "haproxy" if "haproxy" in line else "workers"
            if kind == "haproxy" or process.ppid() in gunicorns:
                times = process.cpu_times()
                used[kind] += times.user + times.system
        return used

    def stop(self) -> None:
        """SIGTERM (serve.py then stops HAProxy and gunicorn itself), SIGKILL if need be."""
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            for child in psutil.Process(self.process.pid).children(recursive=True):
                child.kill()
            self.process.kill()
            self.process.wait()


def start(shape: str, database_url: str, workdir: Path, **extra: str) -> Server:
    """`direct`: gunicorn with gunicorn.conf.py; `serve`: deploy/serve.py, as `make serve`
    runs it. On a free port; returns once /readyz answers 200. `extra`: the environment
    (BENCH_ROOT names another checkout to serve, BENCH_APP another WSGI application)."""
    root = Path(extra.pop("BENCH_ROOT", BASE_DIR))
    with socket.socket() as sock:  # a port nothing listens on right now
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    env = app_env(database_url, HOST="127.0.0.1", PORT=str(port), **extra)
    if shape == "serve":
        tool("haproxy")
        env.update(SERVE_STATE_DIR=str(workdir / f"serve-{port}"), PATH=f"{env['PATH']}:/usr/sbin")
        command = [sys.executable, "deploy/serve.py"]
    else:
        app = extra.get("BENCH_APP", "orders_project.wsgi")
        command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", app]
    log_path = workdir / f"{shape}-{port}.log"
    with log_path.open("wb") as out:
        process = subprocess.Popen(command, cwd=root, env=env, stdout=out, stderr=out)
    server = Server(shape=shape, port=port, process=process, log_path=log_path)
    deadline = time.monotonic() + TIMEOUT_S
    while get(server.port, "/readyz")[0] != 200:
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise SystemExit(f"bench: {shape} never became ready:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.2)
    return server


def get(port: int, path: str, tenant: str = "", conn: Any = None) -> tuple[int, Any]:
    """GET over HTTP (on `conn`, kept alive, when given); the status and the parsed JSON,
    or status 0 when nothing answers."""
    client = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        client.request("GET", path, headers={"X-Tenant-Id": tenant} if tenant else {})
        body = (response := client.getresponse()).read()
    except (OSError, http.client.HTTPException):
        client.close()  # reopened by the next request
        return 0, None
    finally:
        if conn is None:
            client.close()
    return response.status, json.loads(body) if body.startswith(b"{") else None


def run_wrk(
    server: Server, script: str, env: dict[str, str], seconds: int, connections: int
) -> dict[str, Any]:
    """wrk with one of benchmarks/wrk/, keep-alive connections: req/s, latency, errors and
    the CPU per request of the gunicorn workers (and HAProxy) while it ran."""
    threads = 2
    flags = f"-t {threads} -c {connections} -d {seconds}s --timeout 10s -s {script}"
    before = server.cpu_seconds()
    done = subprocess.run(
        [tool("wrk"), *flags.split(), server.base_url],
        cwd=WRK_DIR,
        env={**os.environ, **env, "BENCH_WRK_THREADS": str(threads)},
        capture_output=True,
        text=True,
        check=False,
    )
    after = server.cpu_seconds()
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH-JSON ")), None)
    if done.returncode != 0 or line is None:
        raise SystemExit(f"bench: wrk failed:\n{done.stdout}{done.stderr}")
    data: dict[str, Any] = json.loads(line.removeprefix("BENCH-JSON "))
    # Answered: wrk counts a 4xx/5xx (the front door's 503 when its queue is full) as a
    # request; req/s and CPU per request are of the requests the app answered well.
    answered = data["requests"] - data["errors_status"]
    data["rps"] = answered / (data["duration_us"] / 1e6)
    data["errors"] = sum(v for k, v in data.items() if k.startswith("errors_"))
    for name in ("workers", "haproxy"):
        data[f"{name}_cpu_us"] = (after[name] - before[name]) / max(answered, 1) * 1e6
    return data
