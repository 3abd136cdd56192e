"""Racing requests with one key: it executes once, whatever the timing.

Every test here commits for real (`transaction=True`) and races separate database
connections, because the guarantee lives in PostgreSQL's row locks, not in Python.
"""

import json
import threading
import time
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.db import connections, transaction
from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from idempotency.keys import fingerprint
from idempotency.models import IdempotencyKey
from idempotency.repository import IdempotencyKeyRepository, StoredResponse
from idempotency.tests.helpers import (
    JSON,
    TENANT,
    backend_pid,
    is_blocked_by,
    lock_timeout,
    post_order,
)
from orders import services
from orders.api.serializers import OrderOutputSerializer
from orders.models import Order
from outbox.models import OutboxEvent

CREATE_FINGERPRINT = fingerprint(method="POST", path="/orders", body=b"{}")

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


def close(client, order_id, *, key):
    return client.post(
        f"/orders/{order_id}/close", data=b"", content_type=JSON, headers={"Idempotency-Key": key}
    )


def confirmed_order():
    order = services.order_create(tenant_id=TENANT)
    return services.order_confirm(
        tenant_id=TENANT, order_id=order.pk, total_cents=500, expected_version=1
    )


class Outcome:
    """What one racing request got back."""

    def __init__(self, response):
        self.status = response.status_code
        self.body = response.content
        self.replayed = response.get("Idempotent-Replayed")
        self.retry_after = response.get("Retry-After")
        self.code = response.json().get("code") if self.status >= 400 else None


def order_id(outcome):
    return json.loads(outcome.body)["id"]


def assert_one_execution(outcomes, *, success):
    """Exactly one original success; every other answer is its replay or 409 in use."""
    originals = [o for o in outcomes if o.status == success and o.replayed is None]
    replays = [o for o in outcomes if o.status == success and o.replayed == "true"]
    in_use = [o for o in outcomes if o.status == 409 and o.code == "idempotency_key_in_use"]
    assert len(originals) == 1, [(o.status, o.code, o.replayed) for o in outcomes]
    assert len(originals) + len(replays) + len(in_use) == len(outcomes)
    assert {o.body for o in replays} <= {originals[0].body}
    assert all(o.retry_after for o in in_use)
    return originals[0]


class KeyHolder(threading.Thread):
    """Another request in flight: claims the key in its own connection and transaction,
    writes an order, and keeps the transaction open until `finish` is set or, when a
    waiter is named, until that waiter is queued behind its lock."""

    def __init__(self, *, key, commit, waiter_pid=None):
        super().__init__(daemon=True)
        self.key = key
        self.commit = commit
        self.waiter_pid = waiter_pid
        self.claimed = threading.Event()
        self.finish = threading.Event()
        self.saw_waiter = False
        self.order = None
        self.stored = None
        self.error = None

    def run(self):
        try:
            with transaction.atomic():
                repository = IdempotencyKeyRepository(tenant_id=TENANT)
                assert repository.claim(
                    self.key, fingerprint=CREATE_FINGERPRINT, ttl=timedelta(hours=24)
                )
                self.order = services.order_create(tenant_id=TENANT)
                self.claimed.set()
                self._hold(backend_pid())
                if self.commit:
                    self.stored = StoredResponse(
                        status=201,
                        headers={
                            "Content-Type": JSON,
                            "Location": f"/orders/{self.order.pk}",
                            "ETag": '"1"',
                        },
                        body=JSONRenderer().render(OrderOutputSerializer(self.order).data),
                    )
                    repository.complete(self.key, self.stored)
                else:
                    transaction.set_rollback(True)
        except BaseException as error:  # re-raised in the test by `key_in_flight`
            self.error = error
        finally:
            self.claimed.set()
            connections.close_all()

    def _hold(self, own_pid):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.finish.wait(0.02):
                return
            if self.waiter_pid is not None and is_blocked_by(self.waiter_pid, own_pid):
                self.saw_waiter = True
                return
        raise TimeoutError("the key holder was never released")


@contextmanager
def key_in_flight(*, key, commit, waiter_pid=None):
    """Run a KeyHolder for the block; on leaving, it finishes (commit or rollback)."""
    holder = KeyHolder(key=key, commit=commit, waiter_pid=waiter_pid)
    holder.start()
    try:
        assert holder.claimed.wait(30)
        if holder.error is not None:
            raise holder.error
        yield holder
    finally:
        holder.finish.set()
        holder.join(30)
    assert not holder.is_alive(), "the key holder did not finish"
    if holder.error is not None:
        raise holder.error


class TestRacingRetries:
    """Many copies of one request at once."""

    def test_20_racing_creates_with_one_key_make_one_order(self, concurrently, client_for):
        # given
        def create(_):
            return Outcome(post_order(client_for(TENANT), key="race-1"))

        # when
        outcomes = concurrently(create, 20)

        # then
        original = assert_one_execution(outcomes, success=201)
        assert Order.objects.count() == 1
        assert str(Order.objects.get().pk) == order_id(original)
        assert IdempotencyKey.objects.count() == 1

    def test_15_racing_closes_with_one_key_write_one_outbox_event(self, concurrently, client_for):
        # given
        order = confirmed_order()

        def close_order(_):
            return Outcome(close(client_for(TENANT), order.pk, key="close-1"))

        # when
        outcomes = concurrently(close_order, 15)

        # then
        assert_one_execution(outcomes, success=200)
        assert OutboxEvent.objects.filter(aggregate_id=order.pk).count() == 1
        closed = Order.objects.get(pk=order.pk)
        assert (closed.status, closed.version) == (Order.Status.CLOSED, 3)

    def test_racing_creates_with_one_key_and_different_bodies_execute_once(
        self, concurrently, client_for
    ):
        # given half the clients send one body, half another, all with the same key
        bodies = [b"{}", b'{"note": "other"}']

        def create(index):
            return Outcome(post_order(client_for(TENANT), key="race-1", body=bodies[index % 2]))

        # when
        outcomes = concurrently(create, 16)

        # then every answer is the one execution, its replay, a reuse refusal or in use
        originals = [o for o in outcomes if o.status == 201 and o.replayed is None]
        assert len(originals) == 1
        assert {(o.status, o.code) for o in outcomes} <= {
            (201, None),
            (422, "idempotency_key_reused"),
            (409, "idempotency_key_in_use"),
        }
        assert {o.body for o in outcomes if o.status == 201} == {originals[0].body}
        assert Order.objects.count() == 1

    def test_racing_creates_with_different_keys_make_one_order_each(
        self, concurrently, client_for
    ):
        # given
        def create(index):
            return Outcome(post_order(client_for(TENANT), key=f"key-{index}"))

        # when
        outcomes = concurrently(create, 20)

        # then
        assert [o.status for o in outcomes] == [201] * 20
        assert all(o.replayed is None for o in outcomes)
        assert len({order_id(o) for o in outcomes}) == 20
        assert Order.objects.count() == 20
        assert IdempotencyKey.objects.count() == 20

    def test_racing_retries_of_an_expired_key_run_it_once_more(self, concurrently, client_for):
        # given a key whose retention has passed
        first = post_order(client_for(TENANT), key="race-1")
        IdempotencyKey.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

        def create(_):
            return Outcome(post_order(client_for(TENANT), key="race-1"))

        # when
        outcomes = concurrently(create, 12)

        # then
        original = assert_one_execution(outcomes, success=201)
        assert original.body != first.content
        assert Order.objects.count() == 2
        assert IdempotencyKey.objects.get().expires_at > timezone.now()


class TestKeyInFlight:
    """A request arriving while another with its key is still executing."""

    def test_times_out_with_409_and_retry_after_then_runs_once_after_release(self, api):
        # given another request holding the key, and a short lock wait for ours
        with key_in_flight(key="key-1", commit=False) as holder, lock_timeout("300ms"):
            # when
            started = time.monotonic()
            in_use = post_order(api, key="key-1")
            waited = time.monotonic() - started

        # then
        assert in_use.status_code == 409
        assert in_use.json()["code"] == "idempotency_key_in_use"
        assert in_use["Content-Type"] == "application/problem+json"
        assert int(in_use["Retry-After"]) >= 1
        assert waited >= 0.25

        # and when, the holder having failed, the client retries
        retry = post_order(api, key="key-1")

        # then the retry executes, exactly once
        assert retry.status_code == 201
        assert not retry.has_header("Idempotent-Replayed")
        assert [str(pk) for pk in Order.objects.values_list("id", flat=True)] == [
            retry.json()["id"]
        ]
        assert not Order.objects.filter(pk=holder.order.pk).exists()
        assert post_order(api, key="key-1").content == retry.content

    def test_waiter_replays_the_response_the_holder_commits(self, api):
        # given another request holding the key, committing once ours waits on it
        waiter_pid = backend_pid()
        with key_in_flight(key="key-1", commit=True, waiter_pid=waiter_pid) as holder:
            # when
            response = post_order(api, key="key-1")

        # then
        assert holder.saw_waiter
        assert response.status_code == 201
        assert response["Idempotent-Replayed"] == "true"
        assert response.content == holder.stored.body
        assert response["Location"] == f"/orders/{holder.order.pk}"
        assert list(Order.objects.values_list("id", flat=True)) == [holder.order.pk]

    def test_waiter_executes_when_the_holder_rolls_back(self, api):
        # given another request holding the key, failing once ours waits on it
        waiter_pid = backend_pid()
        with key_in_flight(key="key-1", commit=False, waiter_pid=waiter_pid) as holder:
            # when
            response = post_order(api, key="key-1")

        # then
        assert holder.saw_waiter
        assert response.status_code == 201
        assert not response.has_header("Idempotent-Replayed")
        assert [str(pk) for pk in Order.objects.values_list("id", flat=True)] == [
            response.json()["id"]
        ]
        assert not Order.objects.filter(pk=holder.order.pk).exists()
