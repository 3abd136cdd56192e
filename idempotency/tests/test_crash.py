"""A process killed mid-request: nothing half-written, and its key is not blocked.

The request runs in a real child process, through the real middleware and views, on
the test database; the test SIGKILLs it at a chosen point and retries from here.
"""

import os
import select
import signal
import subprocess
import sys
import time
from contextlib import contextmanager

import pytest
from django.conf import settings
from django.db import connection

from idempotency.models import IdempotencyKey
from idempotency.tests.helpers import lock_timeout, order_ids
from orders.models import Order
from orders.tests.http import TENANT, assert_problem, create
from orders_project.tests import child_database_url

READY_TIMEOUT = 30

# Runs POST /orders with the key through the whole stack, and freezes at STAGE with
# the request's transaction open, after printing the order id and its backend pid.
CHILD = r"""
import json, sys, time

import django

django.setup()

from django.db import connection
from django.test import Client

from idempotency.repository import IdempotencyKeyRepository
from orders import services

stage, tenant, key = sys.argv[1:4]


def freeze(order_id):
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    print("ready", order_id, pid, flush=True)
    time.sleep(600)


if stage == "view":
    create = services.order_create

    def create_and_freeze(*, tenant_id):
        freeze(create(tenant_id=tenant_id).pk)

    services.order_create = create_and_freeze
else:
    complete = IdempotencyKeyRepository.complete

    def complete_and_freeze(self, key, response):
        complete(self, key, response)
        freeze(json.loads(response.body)["id"])

    IdempotencyKeyRepository.complete = complete_and_freeze

Client(headers={"X-Tenant-Id": tenant}).post(
    "/orders", data=b"{}", content_type="application/json", headers={"Idempotency-Key": key}
)
print("finished", flush=True)
"""


class FrozenRequest:
    """A child process whose request is stuck with its transaction open."""

    def __init__(self, process):
        self.process = process
        self.order_id = None
        self.backend_pid = None

    def wait_until_frozen(self):
        ready, _, _ = select.select([self.process.stdout], [], [], READY_TIMEOUT)
        line = self.process.stdout.readline() if ready else ""
        if not line.startswith("ready "):
            self.process.kill()
            _, stderr = self.process.communicate(timeout=10)
            pytest.fail(f"the child request never froze: {line!r}\n{stderr}")
        _, self.order_id, pid = line.split()
        self.backend_pid = int(pid)

    def kill(self):
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        assert self.process.returncode == -signal.SIGKILL


@contextmanager
def request_in_child(*, stage, key):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "orders_project.settings",
        "DATABASE_URL": child_database_url(),
    }
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", CHILD, stage, TENANT, key],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield FrozenRequest(process)
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


def wait_until_backend_gone(pid, timeout=10.0):
    # PostgreSQL notices the dead client's closed socket and aborts its transaction;
    # until then the key is legitimately "in use" (409, Retry-After).
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
            if cursor.fetchone()[0] == 0:
                return
            time.sleep(0.05)
    pytest.fail(f"the killed request's backend {pid} is still alive")


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(90)
@pytest.mark.parametrize(
    "stage",
    [
        pytest.param("view", id="killed-while-the-view-runs"),
        pytest.param("stored", id="killed-after-storing-the-response-before-commit"),
    ],
)
def test_killed_request_leaves_nothing_and_its_retry_runs_exactly_once(api, stage):
    # given a request with the key frozen mid-flight in another process; while it
    # lives, the key is in use
    with request_in_child(stage=stage, key="crash-1") as child:
        child.wait_until_frozen()
        with lock_timeout("300ms"):
            in_flight = create(api, key="crash-1")
        assert_problem(in_flight, 409, "idempotency_key_in_use")

        # when the process is killed and the client retries
        child.kill()
        wait_until_backend_gone(child.backend_pid)
        assert not Order.objects.exists()
        assert not IdempotencyKey.objects.exists()
        retry = create(api, key="crash-1")

    # then the retry runs, and the killed request's order never appears
    assert retry.status_code == 201
    assert not retry.has_header("Idempotent-Replayed")
    assert retry.json()["id"] != child.order_id
    assert order_ids() == [retry.json()["id"]]
    stored = IdempotencyKey.objects.get()
    assert (stored.key, stored.response_status) == ("crash-1", 201)
    assert stored.response_body is not None
    assert bytes(stored.response_body) == retry.content

    # and from now on the key replays that one execution
    again = create(api, key="crash-1")
    assert again["Idempotent-Replayed"] == "true"
    assert again.content == retry.content
    assert Order.objects.count() == 1
