"""Racing requests with one key: it executes once, whatever the timing.

Every test here commits for real (`transaction=True`) and races separate database
connections, because the guarantee lives in PostgreSQL's row locks, not in Python.
"""

import json
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from idempotency.models import IdempotencyKey
from idempotency.tests.helpers import backend_pid, key_in_flight, lock_timeout, order_ids
from orders.models import Order
from orders.tests.factories import ConfirmedOrderFactory
from orders.tests.http import TENANT, assert_problem, close, create
from outbox.models import OutboxEvent

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


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


class TestRacingRetries:
    """Many copies of one request at once."""

    def test_20_racing_creates_with_one_key_make_one_order(self, concurrently, client_for):
        # given
        def send(_):
            return Outcome(create(client_for(TENANT), key="race-1"))

        # when
        outcomes = concurrently(send, 20)

        # then
        original = assert_one_execution(outcomes, success=201)
        assert Order.objects.count() == 1
        assert str(Order.objects.get().pk) == order_id(original)
        assert IdempotencyKey.objects.count() == 1

    def test_15_racing_closes_with_one_key_write_one_outbox_event(self, concurrently, client_for):
        # given
        order = ConfirmedOrderFactory.create()

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

        def send(index):
            return Outcome(create(client_for(TENANT), key="race-1", body=bodies[index % 2]))

        # when
        outcomes = concurrently(send, 16)

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
        def send(index):
            return Outcome(create(client_for(TENANT), key=f"key-{index}"))

        # when
        outcomes = concurrently(send, 20)

        # then
        assert [o.status for o in outcomes] == [201] * 20
        assert all(o.replayed is None for o in outcomes)
        assert len({order_id(o) for o in outcomes}) == 20
        assert Order.objects.count() == 20
        assert IdempotencyKey.objects.count() == 20

    def test_racing_retries_of_an_expired_key_run_it_once_more(self, concurrently, client_for):
        # given a key whose retention has passed
        first = create(client_for(TENANT), key="race-1")
        IdempotencyKey.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

        def send(_):
            return Outcome(create(client_for(TENANT), key="race-1"))

        # when
        outcomes = concurrently(send, 12)

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
            in_use = create(api, key="key-1")
            waited = time.monotonic() - started

        # then
        assert_problem(in_use, 409, "idempotency_key_in_use")
        assert int(in_use["Retry-After"]) >= 1
        assert waited >= 0.25

        # and when, the holder having failed, the client retries
        retry = create(api, key="key-1")

        # then the retry executes, exactly once
        assert retry.status_code == 201
        assert not retry.has_header("Idempotent-Replayed")
        assert order_ids() == [retry.json()["id"]]
        assert not Order.objects.filter(pk=holder.order.pk).exists()
        assert create(api, key="key-1").content == retry.content

    def test_waiter_replays_the_response_the_holder_commits(self, api):
        # given another request holding the key, committing once ours waits on it
        waiter_pid = backend_pid()
        with key_in_flight(key="key-1", commit=True, waiter_pid=waiter_pid) as holder:
            # when
            response = create(api, key="key-1")

        # then
        assert holder.saw_waiter
        assert response.status_code == 201
        assert response["Idempotent-Replayed"] == "true"
        assert holder.stored is not None
        assert response.content == holder.stored.body
        assert response["Location"] == f"/orders/{holder.order.pk}"
        assert order_ids() == [str(holder.order.pk)]

    def test_waiter_executes_when_the_holder_rolls_back(self, api):
        # given another request holding the key, failing once ours waits on it
        waiter_pid = backend_pid()
        with key_in_flight(key="key-1", commit=False, waiter_pid=waiter_pid) as holder:
            # when
            response = create(api, key="key-1")

        # then
        assert holder.saw_waiter
        assert response.status_code == 201
        assert not response.has_header("Idempotent-Replayed")
        assert order_ids() == [response.json()["id"]]
        assert not Order.objects.filter(pk=holder.order.pk).exists()
