"""Gunicorn settings, read from the environment (gunicorn -c gunicorn.conf.py ...).

HOST / PORT            bind address (default 127.0.0.1:8000; the Docker image
                       sets HOST=0.0.0.0). GUNICORN_BIND overrides both.
WEB_CONCURRENCY        worker processes (default 2 * usable cores + 1, at most 8)
GUNICORN_THREADS       threads per worker (default 1; >1 selects gthread)
GUNICORN_TIMEOUT       seconds a worker may stay silent before it is killed (30)
GUNICORN_GRACEFUL_TIMEOUT  seconds workers get to finish on shutdown/reload (30)
GUNICORN_KEEPALIVE     seconds to keep idle keep-alive connections (5)
GUNICORN_LOGLEVEL      error log level (info)
GUNICORN_PROXY_PROTOCOL  "v2" behind HAProxy (make serve): the client's address
                       arrives in a PROXY header; off by default
GUNICORN_CONTROL_SOCKET  path for gunicornc's control socket; unset = disabled
                       (its default path is shared by every gunicorn of a user)
"""

import os
import shutil


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        message = f"gunicorn.conf.py: {name} must be an integer, got {raw!r}"
        raise SystemExit(message) from exc
    if value < 1:
        raise SystemExit(f"gunicorn.conf.py: {name} must be >= 1, got {value}")
    return value


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # respects cpusets / taskset
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


_host = os.environ.get("HOST") or "127.0.0.1"
_port = os.environ.get("PORT") or "8000"
bind = [os.environ.get("GUNICORN_BIND") or f"{_host}:{_port}"]

# make serve: HAProxy passes the client address in a PROXY protocol header. gunicorn
# then listens on a unix socket that only the proxy can reach.
proxy_protocol = os.environ.get("GUNICORN_PROXY_PROTOCOL") or "off"

workers = _int_env("WEB_CONCURRENCY", min(2 * _usable_cores() + 1, 8))
threads = _int_env("GUNICORN_THREADS", 1)

timeout = _int_env("GUNICORN_TIMEOUT", 30)
graceful_timeout = _int_env("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = _int_env("GUNICORN_KEEPALIVE", 5)

# The app writes one JSON access line per request (with its request id and tenant);
# gunicorn's own plain-text access log is off unless GUNICORN_ACCESS_LOG names a file
# (or "-" for stdout).
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"  # stderr
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")

# The worker heartbeat file: keep it in RAM (a slow or overlay /tmp can make
# healthy workers look dead and get them killed).
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"

# Limits of the HTTP parser: a longer request line is 414, more or larger header
# fields 431 (problem+json, see post_worker_init). The API needs far less than this.
limit_request_line = _int_env("GUNICORN_LIMIT_REQUEST_LINE", 4094)
limit_request_fields = _int_env("GUNICORN_LIMIT_REQUEST_FIELDS", 50)
limit_request_field_size = _int_env("GUNICORN_LIMIT_REQUEST_FIELD_SIZE", 8190)

_control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET")
if _control_socket:
    control_socket = _control_socket
else:
    control_socket_disable = True


# Prometheus multiprocess mode: every worker writes its metrics to this folder and
# /metrics on any worker adds them up (orders_project/metrics.py). It must be set
# before the workers import the app, so here, in the master. A folder of our own
# choosing is named after the master and removed when it exits; one a master killed
# outright left behind is removed by the next start.
_METRICS_PREFIX = "orders-metrics-"
_metrics_parent = worker_tmp_dir if os.path.isdir("/dev/shm") else "/tmp"
_metrics_dir_is_ours = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
_metrics_dir = os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR", os.path.join(_metrics_parent, f"{_METRICS_PREFIX}{os.getpid()}")
)


def _remove_stale_metric_dirs() -> None:
    """Remove the folders of masters that are gone (SIGKILLed, or from before this fix)."""
    from scripts.devdb import process_alive  # noqa: PLC0415 (the repo's one pid check)

    for entry in os.scandir(_metrics_parent):
        pid = entry.name.removeprefix(_METRICS_PREFIX)
        ours = entry.name.startswith(_METRICS_PREFIX) and pid.isdigit()
        if ours and not process_alive(int(pid)):
            shutil.rmtree(entry.path, ignore_errors=True)


def post_worker_init(worker: object) -> None:
    """Requests the HTTP parser refuses get problem+json, like every other error."""
    from orders_project import wire_errors  # noqa: PLC0415 (the app's path is set by now)

    wire_errors.install()


def on_starting(server: object) -> None:
    """Start every run with empty metric files: counters restart with the server."""
    if _metrics_dir_is_ours:
        _remove_stale_metric_dirs()
    shutil.rmtree(_metrics_dir, ignore_errors=True)
    os.makedirs(_metrics_dir, exist_ok=True)


def on_exit(server: object) -> None:
    """Leave no metric files behind (only in a folder this file chose)."""
    if _metrics_dir_is_ours:
        shutil.rmtree(_metrics_dir, ignore_errors=True)


def child_exit(server: object, worker: object) -> None:
    """Fold a dead worker's live gauges out of the totals."""
    # Imported late on purpose: prometheus_client picks its storage when first imported,
    # and the workers forked from this process must see PROMETHEUS_MULTIPROC_DIR first.
    from prometheus_client import multiprocess  # noqa: PLC0415

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined]
