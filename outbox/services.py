"""Outbox use cases for the relay and for operators. Each one owns its transactions."""

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from orders_project.db.batches import in_batches
from outbox.backoff import Backoff
from outbox.publishers import Outcome, Publisher, Verdict
from outbox.repository import ClaimedEvent, Failure, QueueStatus, RelayQueue

# Called with the batch and its outcomes after the broker answered and before the rows
# are marked. Only tests use it, to crash a relay at the worst moment.
BeforeMark = Callable[[Sequence[ClaimedEvent], Sequence[Outcome]], None]


@dataclass(frozen=True)
class BatchResult:
    """What one claim-publish-mark round did."""

    claimed: int = 0
    published: int = 0
    failed: int = 0
    dead: int = 0
    # Some event could not be handed to the broker (connection lost, timeout).
    broker_trouble: bool = False


@dataclass(frozen=True)
class RequeueResult:
    """Events put back in the queue, and requested ids that were not dead."""

    requeued: list[uuid.UUID]
    not_dead: list[uuid.UUID]


def outbox_publish_batch(
    *,
    publisher: Publisher,
    batch_size: int,
    max_attempts: int,
    backoff: Backoff,
    before_mark: BeforeMark | None = None,
) -> BatchResult:
    """Claim due events, publish them, and mark each by the broker's answer.

    The claimed rows stay locked (FOR UPDATE SKIP LOCKED) while the broker confirms,
    so no other relay publishes them, and a relay that dies before committing releases
    them at once: its events are published again (at least once, never lost).
    Raises BrokerUnavailable, before claiming anything, when the broker is down.
    """
    publisher.connect()
    queue = RelayQueue()
    with transaction.atomic():
        events = queue.claim(limit=batch_size, now=timezone.now())
        if not events:
            return BatchResult()
        outcomes = publisher.publish(events)
        if before_mark is not None:
            before_mark(events, outcomes)
        now = timezone.now()
        published = [e.id for e, o in zip(events, outcomes, strict=True) if o.published]
        queue.mark_published(published, now=now)
        failures = [
            _failure(event, outcome, now=now, max_attempts=max_attempts, backoff=backoff)
            for event, outcome in zip(events, outcomes, strict=True)
            if not outcome.published
        ]
        if failures:
            queue.record_failures(failures)
    return BatchResult(
        claimed=len(events),
        published=len(published),
        failed=len(events) - len(published),
        dead=sum(failure.dead_at is not None for failure in failures),
        broker_trouble=any(o.verdict is Verdict.UNDELIVERED for o in outcomes),
    )


def _failure(
    event: ClaimedEvent,
    outcome: Outcome,
    *,
    now: datetime,
    max_attempts: int,
    backoff: Backoff,
) -> Failure:
    attempts = event.attempts + 1
    # Only the broker refusing this very event can make it dead; an outage cannot.
    parked = outcome.verdict is Verdict.REJECTED and attempts >= max_attempts
    return Failure(
        event_id=event.id,
        error=outcome.error[:2000],
        attempts=attempts,
        next_attempt_at=None if parked else now + backoff.delay(attempts),
        dead_at=now if parked else None,
    )


def outbox_requeue(
    *,
    event_ids: Sequence[uuid.UUID] | None,
    batch_size: int = 1000,
    progress: Callable[[int], object] | None = None,
) -> RequeueResult:
    """Give dead events (these ids, or all of them when None) a fresh set of attempts.

    One short transaction per `batch_size` events, so a requeue of a million holds no
    lock for long and never sends more parameters than a statement takes.
    """
    queue = RelayQueue()
    requeued: list[uuid.UUID] = []
    if event_ids is None:

        def step() -> int:
            batch = queue.requeue(ids=None, limit=batch_size)
            requeued.extend(batch)
            return len(batch)

        in_batches(step, batch_size=batch_size, progress=progress)
    else:
        for start in range(0, len(event_ids), batch_size):
            with transaction.atomic():
                batch = queue.requeue(ids=event_ids[start : start + batch_size], limit=batch_size)
            requeued.extend(batch)
            if progress is not None:
                progress(len(batch))
    found = set(requeued)
    missing = [i for i in (event_ids or []) if i not in found]
    return RequeueResult(requeued=requeued, not_dead=missing)


def outbox_prune(
    *, older_than: timedelta, batch_size: int, progress: Callable[[int], object] | None = None
) -> int:
    """Delete events published longer ago than `older_than`, one short transaction per batch."""
    cutoff = timezone.now() - older_than
    queue = RelayQueue()
    return in_batches(
        lambda: queue.prune_batch(published_before=cutoff, limit=batch_size),
        batch_size=batch_size,
        progress=progress,
    )


def outbox_status() -> QueueStatus:
    """Pending and dead counts, the oldest pending event, and the last hour's output."""
    return RelayQueue().status(now=timezone.now())
