"""CoreMeter: CPU time lands on the party that spent it, children that ended included."""

import subprocess
import sys

import pytest

from benchmarks.cores import _POSTGRES_BACKGROUND, CoreMeter, CoreSplit

# Spends `seconds` of CPU (not of wall time: a busy machine only makes it take longer).
_BURN = "import time\nt = time.process_time()\nwhile time.process_time() - t < {seconds}: pass"

# A stand-in server: on a line from stdin it starts a child that burns CPU, waits for
# it (the child has ended, and its time is only in the parent's children_* now), says
# so, and idles until stopped.
_SERVER = f"""
import subprocess, sys
sys.stdin.readline()
subprocess.run([sys.executable, "-c", {_BURN.format(seconds=0.5)!r}], check=True)
print("reaped", flush=True)
sys.stdin.readline()
"""


def test_cpu_of_a_servers_ended_child_and_of_the_load_generator_each_land_on_their_party() -> None:
    server = subprocess.Popen(  # noqa: S603 (our own script)
        [sys.executable, "-c", _SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert server.stdin is not None
    assert server.stdout is not None
    try:
        with CoreMeter(server_pid=server.pid, postgres_pid=None) as meter:
            server.stdin.write("go\n")
            server.stdin.flush()
            assert server.stdout.readline() == "reaped\n"
            # the load generator: a child of ours that we wait for
            burn = [sys.executable, "-c", _BURN.format(seconds=0.3)]
            subprocess.run(burn, check=True)  # noqa: S603 (our own script)
    finally:
        server.communicate("stop\n", timeout=30)

    split = meter.split
    assert 0.45 <= split.server * split.seconds < 0.8
    assert 0.25 <= split.client * split.seconds < 0.6
    assert split.postgres == 0


def test_per_request_figures() -> None:
    split = CoreSplit(seconds=10, server=1.5, postgres=0.3, client=0.1, other=0.05, idle=0.05)
    assert split.per_request_ms("server", 5_000) == 3.0
    assert split.per_request_ms("postgres", 0) == 0.0


@pytest.mark.parametrize(
    ("title", "background"),
    [
        ("postgres: checkpointer ", True),
        ("postgres: 15/main: walwriter ", True),
        ("postgres: autovacuum worker orders_bench", True),
        ("postgres: postgres orders_bench 127.0.0.1(50122) idle", False),
        ("postgres: autovacuum launcher ", True),
        ("postgres: postgres checkpointer [local] SELECT", False),  # a database so named
        ("postgres: walwriter orders [local] idle", False),  # a role so named
    ],
)
def test_postgres_background_processes_are_told_from_backends(
    title: str, background: bool
) -> None:
    assert bool(_POSTGRES_BACKGROUND.match(title)) is background
