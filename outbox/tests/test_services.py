"""Publishing a batch, failures and backoff, dead events, requeue, prune and status."""

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from outbox.backoff import Backoff
from outbox.errors import BrokerUnavailable
from outbox.models import OutboxEvent
from outbox.publishers import PUBLISHED, Outcome, Verdict
from outbox.repository import ClaimedEvent
from outbox.services import (
    outbox_prune,
    outbox_publish_batch,
    outbox_requeue,
    outbox_status,
)
from outbox.tests.factories import OutboxEventFactory
from outbox.tests.support import FakePublisher

pytestmark = pytest.mark.django_db

BACKOFF = Backoff(base=2.0, maximum=60.0)


def publish(publisher: FakePublisher, *, max_attempts: int = 3, batch_size: int = 100):
    return outbox_publish_batch(
        publisher=publisher, batch_size=batch_size, max_attempts=max_attempts, backoff=BACKOFF
    )


def rejected(event: ClaimedEvent) -> Outcome:
    return Outcome(Verdict.REJECTED, "unroutable")


def test_confirmed_events_are_marked_published() -> None:
    # given
    events = OutboxEventFactory.create_batch(3)

    # when
    result = publish(FakePublisher())

    # then
    assert (result.claimed, result.published, result.failed) == (3, 3, 0)
    for event in events:
        event.refresh_from_db()
        assert event.published_at is not None
        assert event.state == "published"


def test_a_refused_event_records_the_attempt_and_backs_off_while_others_publish() -> None:
    # given
    bad, good = OutboxEventFactory.create_batch(2)
    publisher = FakePublisher(lambda e: rejected(e) if e.id == bad.id else PUBLISHED)
    before = timezone.now()

    # when
    result = publish(publisher)

    # then
    assert (result.published, result.failed, result.dead) == (1, 1, 0)
    bad.refresh_from_db()
    good.refresh_from_db()
    assert good.published_at is not None
    assert bad.published_at is None
    assert bad.attempts == 1
    assert bad.last_error == "unroutable"
    assert bad.next_attempt_at is not None
    # first retry: base 2 s with 50-100 % jitter
    assert before + timedelta(seconds=1) <= bad.next_attempt_at
    assert bad.next_attempt_at <= timezone.now() + timedelta(seconds=2)


def test_a_batch_is_claimed_marked_and_its_failures_stored_in_one_statement_each(
    django_assert_num_queries: Any,
) -> None:
    # given: 60 events of which every third is refused, a third of those for the last time
    events = OutboxEventFactory.create_batch(60)
    refused = {event.id for event in events[::3]}
    last_try = {event.id for event in events[::9]}
    OutboxEvent.objects.filter(pk__in=last_try).update(attempts=2)
    publisher = FakePublisher(lambda e: rejected(e) if e.id in refused else PUBLISHED)

    # when: savepoint, claim, mark, failures, release (the test's own transaction)
    with django_assert_num_queries(5):
        result = publish(publisher, max_attempts=3)

    # then: each event got its own outcome
    assert (result.published, result.failed, result.dead) == (40, 20, 7)
    for event in OutboxEvent.objects.all():
        if event.id in last_try:
            assert (event.state, event.attempts, event.next_attempt_at) == ("dead", 3, None)
        elif event.id in refused:
            assert (event.state, event.attempts, event.last_error) == ("pending", 1, "unroutable")
            assert event.next_attempt_at is not None
        else:
            assert (event.state, event.attempts) == ("published", 0)


def test_an_event_refused_max_attempts_times_is_parked_dead() -> None:
    # given
    event = OutboxEventFactory.create(attempts=2)

    # when
    result = publish(FakePublisher(rejected), max_attempts=3)

    # then
    assert result.dead == 1
    event.refresh_from_db()
    assert event.state == "dead"
    assert event.attempts == 3
    assert event.dead_at is not None


def test_a_lost_connection_is_retried_but_never_parks_an_event() -> None:
    # given
    event = OutboxEventFactory.create(attempts=5)
    publisher = FakePublisher(lambda e: Outcome(Verdict.UNDELIVERED, "StreamLostError"))

    # when
    result = publish(publisher, max_attempts=3)

    # then
    assert result.broker_trouble
    event.refresh_from_db()
    assert event.state == "pending"
    assert event.attempts == 6
    assert event.last_error == "StreamLostError"


def test_an_unreachable_broker_touches_no_event() -> None:
    # given
    event = OutboxEventFactory.create()
    publisher = FakePublisher()
    publisher.down = True

    # when / then
    with pytest.raises(BrokerUnavailable):
        publish(publisher)
    event.refresh_from_db()
    assert (event.attempts, event.published_at, publisher.sent) == (0, None, [])


def test_backoff_grows_exponentially_within_jitter_and_cap() -> None:
    backoff = Backoff(base=1.0, maximum=10.0)
    for attempt, ceiling in [(1, 1), (2, 2), (3, 4), (4, 8), (5, 10), (40, 10)]:
        delay = backoff.seconds(attempt)
        assert ceiling / 2 <= delay <= ceiling


def test_requeue_revives_dead_events_and_reports_the_rest() -> None:
    # given
    dead = OutboxEventFactory.create(dead=True)
    pending = OutboxEventFactory.create()

    # when
    result = outbox_requeue(event_ids=[dead.pk, pending.pk])

    # then
    assert result.requeued == [dead.pk]
    assert result.not_dead == [pending.pk]
    dead.refresh_from_db()
    assert (dead.state, dead.attempts, dead.next_attempt_at) == ("pending", 0, None)


def test_requeue_all_takes_every_dead_event() -> None:
    # given
    dead = OutboxEventFactory.create_batch(3, dead=True)

    # when
    result = outbox_requeue(event_ids=None)

    # then
    assert sorted(result.requeued) == sorted(e.pk for e in dead)
    assert not OutboxEvent.objects.filter(dead_at__isnull=False).exists()


def test_requeue_works_in_batches_of_the_given_size() -> None:
    # given: more dead events than a batch, and one pending
    dead = OutboxEventFactory.create_batch(5, dead=True)
    pending = OutboxEventFactory.create()
    batches: list[int] = []

    # when
    every = outbox_requeue(event_ids=None, batch_size=2, progress=batches.append)
    named = outbox_requeue(
        event_ids=[e.pk for e in dead] + [pending.pk], batch_size=2, progress=batches.append
    )

    # then: all five in batches of two (the last one short), and nothing left to requeue
    assert sorted(every.requeued) == sorted(e.pk for e in dead)
    assert batches[:3] == [2, 2, 1]
    assert not OutboxEvent.objects.filter(dead_at__isnull=False).exists()
    assert named.requeued == []
    assert named.not_dead == [e.pk for e in dead] + [pending.pk]


def test_prune_works_in_batches_and_keeps_pending_and_dead_rows() -> None:
    # given
    old = timezone.now() - timedelta(days=8)
    OutboxEventFactory.create_batch(7, published_at=old)
    kept = [
        OutboxEventFactory.create(published_at=timezone.now()),
        OutboxEventFactory.create(created_at=old),
        OutboxEventFactory.create(dead=True, created_at=old),
    ]

    # when
    deleted = outbox_prune(older_than=timedelta(days=7), batch_size=3)

    # then
    assert deleted == 7
    assert set(OutboxEvent.objects.values_list("pk", flat=True)) == {e.pk for e in kept}


def test_status_counts_pending_dead_oldest_and_recent() -> None:
    # given
    oldest = timezone.now() - timedelta(minutes=5)
    OutboxEventFactory.create(created_at=oldest)
    OutboxEventFactory.create()
    OutboxEventFactory.create(dead=True)
    OutboxEventFactory.create(published_at=timezone.now() - timedelta(minutes=10))
    OutboxEventFactory.create(published_at=timezone.now() - timedelta(hours=2))

    # when
    status = outbox_status()

    # then
    assert (status.pending, status.dead, status.published_last_hour) == (2, 1, 1)
    assert status.oldest_pending_created_at == oldest
