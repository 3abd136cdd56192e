"""The relay's queue: which rows a claim takes, and what it leaves to others."""

import threading
import uuid
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from outbox.backoff import Backoff
from outbox.models import OutboxEvent
from outbox.repository import RelayQueue
from outbox.services import outbox_publish_batch
from outbox.tests.factories import OutboxEventFactory
from outbox.tests.support import FakePublisher

pytestmark = pytest.mark.django_db


def claim(limit: int = 100) -> list[uuid.UUID]:
    with transaction.atomic():
        return [event.id for event in RelayQueue().claim(limit=limit, now=timezone.now())]


def test_claim_takes_pending_events_in_sequence_order_up_to_the_limit() -> None:
    # given
    events = OutboxEventFactory.create_batch(5)

    # when
    claimed = claim(limit=3)

    # then
    assert claimed == [e.id for e in sorted(events, key=lambda e: e.sequence)][:3]


def test_claim_skips_published_dead_and_not_yet_due_events() -> None:
    # given
    pending = OutboxEventFactory.create()
    OutboxEventFactory.create(published=True)
    OutboxEventFactory.create(dead=True)
    OutboxEventFactory.create(next_attempt_at=timezone.now() + timedelta(minutes=1))
    due = OutboxEventFactory.create(next_attempt_at=timezone.now() - timedelta(seconds=1))

    # when
    claimed = claim()

    # then
    assert claimed == [pending.id, due.id]


@pytest.mark.parametrize(
    "first_state",
    [
        {},
        {"dead": True},
        {"next_attempt_at": timezone.now() + timedelta(hours=1)},
    ],
    ids=["pending", "dead", "backing-off"],
)
def test_an_unpublished_event_holds_back_only_its_own_orders_later_events(
    first_state: dict[str, object],
) -> None:
    # given
    order = uuid.uuid4()
    first = OutboxEventFactory.create(aggregate_id=order, **first_state)
    second = OutboxEventFactory.create(aggregate_id=order)
    other = OutboxEventFactory.create()

    # when
    claimed = claim()

    # then
    assert second.id not in claimed
    assert other.id in claimed
    assert (first.id in claimed) == (first_state == {})


def test_an_orders_next_event_is_claimable_once_the_earlier_one_is_published() -> None:
    # given
    order = uuid.uuid4()
    first = OutboxEventFactory.create(aggregate_id=order, published=True)
    second = OutboxEventFactory.create(aggregate_id=order)

    # when
    claimed = claim()

    # then
    assert first.sequence < second.sequence
    assert claimed == [second.id]


def test_prune_deletes_only_old_published_events() -> None:
    # given
    old = timezone.now() - timedelta(days=10)
    old_published = OutboxEventFactory.create(published_at=old)
    recent = OutboxEventFactory.create(published_at=timezone.now())
    pending = OutboxEventFactory.create(created_at=old)
    dead = OutboxEventFactory.create(dead=True, created_at=old)

    # when
    deleted = RelayQueue().prune_batch(
        published_before=timezone.now() - timedelta(days=1), limit=10
    )

    # then
    assert deleted == 1
    remaining = set(OutboxEvent.objects.values_list("pk", flat=True))
    assert remaining == {recent.pk, pending.pk, dead.pk}
    assert old_published.pk not in remaining


@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_never_take_the_same_event(concurrently) -> None:
    # given
    events = OutboxEventFactory.create_batch(10)
    both_holding = threading.Barrier(2)

    def claim_and_hold(index: int) -> list[uuid.UUID]:
        with transaction.atomic():
            claimed = RelayQueue().claim(limit=5, now=timezone.now())
            both_holding.wait(timeout=30)  # each still holds its locks here
            return [event.id for event in claimed]

    # when
    first, second = concurrently(claim_and_hold, 2)

    # then
    assert len(first) == len(second) == 5
    assert set(first).isdisjoint(second)
    assert set(first) | set(second) == {e.id for e in events}


@pytest.mark.django_db(transaction=True)
def test_a_transaction_that_commits_late_is_not_skipped() -> None:
    # given: a writer that took a sequence number and has not committed yet
    inserted, release = threading.Event(), threading.Event()
    late_id: list[uuid.UUID] = []

    def slow_writer() -> None:
        try:
            with transaction.atomic():
                late_id.append(OutboxEventFactory.create().id)
                inserted.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    writer = threading.Thread(target=slow_writer)
    writer.start()
    assert inserted.wait(timeout=30)
    later = OutboxEventFactory.create()
    publisher = FakePublisher()

    def publish() -> None:
        outbox_publish_batch(
            publisher=publisher, batch_size=10, max_attempts=3, backoff=Backoff(1, 1)
        )

    publish()
    assert [e.id for e in publisher.sent] == [later.id]

    # when: the early sequence number commits after a later one was published
    release.set()
    writer.join(timeout=30)
    publish()

    # then
    assert [e.id for e in publisher.sent] == [later.id, late_id[0]]
    assert not OutboxEvent.objects.filter(published_at__isnull=True).exists()
    assert OutboxEvent.objects.get(pk=late_id[0]).sequence < later.sequence
