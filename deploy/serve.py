"""`make serve`: gunicorn on a unix socket behind HAProxy, on one machine, no root needed.

    python deploy/serve.py      # after `manage.py migrate`; the Makefile does both

HAProxy (deploy/haproxy/haproxy.cfg) listens on HOST:PORT and is the only way in:
gunicorn binds a unix socket in SERVE_STATE_DIR (default .serve/, mode 0700), so
nothing but this user's proxy can reach it or forge the headers it trusts. Every
PROXY_* setting of the README is passed through; those left unset get defaults that
follow gunicorn's worker count. If gunicorn exits (a crash, a killed master), it is
started again after a second while HAProxy answers 503 problem+json; if HAProxy exits,
everything stops. SIGTERM or Ctrl-C stop both.
"""

from __future__ import annotations

import os
import runpy
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
HAPROXY_CONFIG = ROOT / "deploy" / "haproxy" / "haproxy.cfg"
RESTART_DELAY_S = 1.0
# gunicorn exiting this soon after a start, this many times in a row, cannot start at
# all (bad settings, a port or socket it cannot bind): stop rather than loop.
EARLY_EXIT_S = 10.0
EARLY_EXITS_TO_GIVE_UP = 5
STOP_TIMEOUT_S = 35.0  # gunicorn's graceful timeout (30 s), and a little


def gunicorn_workers() -> int:
    """The worker count gunicorn.conf.py settles on in this environment."""
    settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    return int(settings["workers"])


def serve_env(state_dir: Path) -> dict[str, str]:
    """The environment both processes run with: gunicorn on the socket, the proxy's limits."""
    env = dict(os.environ)
    workers = gunicorn_workers()
    socket_path = state_dir / "gunicorn.sock"
    env.update(
        GUNICORN_BIND=f"unix:{socket_path}",
        GUNICORN_PROXY_PROTOCOL="v2",
        WEB_CONCURRENCY=str(workers),
        PROXY_APP_ADDRESS=f"unix@{socket_path}",
        PROXY_ERRORS_DIR=str(ROOT / "deploy" / "haproxy" / "errors"),
    )
    env.setdefault("HOST", "127.0.0.1")
    env.setdefault("PORT", "8000")
    # One request per sync worker; no client and no tenant may hold more than half of
    # them; a queue a worker pool drains in well under the queue timeout.
    env.setdefault("PROXY_APP_MAX_CONNS", str(workers))
    env.setdefault("PROXY_TENANT_MAX_CONCURRENT", str(max(1, workers // 2)))
    env.setdefault("PROXY_CLIENT_MAX_CONCURRENT", env["PROXY_TENANT_MAX_CONCURRENT"])
    env.setdefault("PROXY_MAX_QUEUE", str(4 * workers))
    return env


def haproxy_binary() -> str:
    found = shutil.which("haproxy") or (
        "/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None
    )
    if not found:
        raise SystemExit(
            "make serve needs HAProxy 2.6 or later: apt-get install haproxy (Debian/Ubuntu)"
        )
    return found


class Supervisor:
    """Runs HAProxy once and gunicorn for as long as HAProxy runs."""

    def __init__(self, env: dict[str, str], state_dir: Path) -> None:
        self.env = env
        self.state_dir = state_dir
        self.haproxy = haproxy_binary()
        self.stopping = False
        self.proxy: subprocess.Popen[bytes] | None = None
        self.app: subprocess.Popen[bytes] | None = None

    def start_app(self) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"]
        return subprocess.Popen([*command, "orders_project.wsgi"], cwd=ROOT, env=self.env)

    def check_proxy_config(self) -> bool:
        """HAProxy's own check of its configuration in this environment (it says why not)."""
        check = [self.haproxy, "-c", "-f", str(HAPROXY_CONFIG)]
        return subprocess.run(check, env=self.env, check=False).returncode == 0

    def start_proxy(self) -> subprocess.Popen[bytes]:
        command = [self.haproxy, "-db", "-f", str(HAPROXY_CONFIG)]
        return subprocess.Popen(command, cwd=self.state_dir, env=self.env)

    def stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def run(self) -> int:
        if not self.check_proxy_config():
            return 1
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self.stop)
        self.app = app = self.start_app()
        self.proxy = proxy = self.start_proxy()
        print(
            f"serve: HAProxy on http://{self.env['HOST']}:{self.env['PORT']} -> gunicorn "
            f"({self.env['WEB_CONCURRENCY']} workers) on {self.env['GUNICORN_BIND']}",
            file=sys.stderr,
            flush=True,
        )
        try:
            return self.watch(proxy, app)
        finally:
            self.shutdown()

    def watch(self, proxy: subprocess.Popen[bytes], app: subprocess.Popen[bytes]) -> int:
        """Until told to stop: restart gunicorn whenever it exits; stop if HAProxy does."""
        started, early_exits = time.monotonic(), 0
        while not self.stopping:
            if proxy.poll() is not None:
                print(f"serve: HAProxy exited ({proxy.returncode})", file=sys.stderr)
                return 1
            if app.poll() is not None:
                early_exits = early_exits + 1 if time.monotonic() - started < EARLY_EXIT_S else 1
                if early_exits >= EARLY_EXITS_TO_GIVE_UP:
                    print("serve: gunicorn keeps exiting at start; stopping", file=sys.stderr)
                    return 1
                print(
                    f"serve: gunicorn exited ({app.returncode}); restarting it",
                    file=sys.stderr,
                    flush=True,
                )
                time.sleep(RESTART_DELAY_S)
                if not self.stopping:
                    self.app = app = self.start_app()
                    started = time.monotonic()
            time.sleep(0.2)
        return 0

    def shutdown(self) -> None:
        for process in (self.proxy, self.app):
            if process and process.poll() is None:
                # SIGUSR1 is HAProxy's soft stop; SIGTERM gunicorn's graceful one.
                process.send_signal(signal.SIGUSR1 if process is self.proxy else signal.SIGTERM)
        for process in (self.proxy, self.app):
            if process:
                try:
                    process.wait(timeout=STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def main() -> int:
    state_dir = Path(os.environ.get("SERVE_STATE_DIR") or ROOT / ".serve").resolve()
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    state_dir.chmod(0o700)  # the socket's only gate: nobody else may connect to gunicorn
    return Supervisor(serve_env(state_dir), state_dir).run()


if __name__ == "__main__":
    sys.exit(main())
