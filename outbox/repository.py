"""Outbox repositories; they never commit.

`OutboxRepository` writes one tenant's events. `RelayQueue` is the relay's view of the
table: it works across tenants by design (one relay serves them all), and is the only
place that claims, marks, parks, requeues and prunes rows.
"""

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Min, Q
from psycopg.types.json import Jsonb

from outbox.models import OutboxEvent
from outbox.tracecontext import TraceContext

# The channel the relay LISTENs on. A trigger on the table (migration 0003) sends the
# NOTIFY for every INSERT; it is queued by the writing transaction and delivered only
# when it commits, so a rolled-back write wakes nobody.
NOTIFY_CHANNEL = "outbox"


class OutboxRepository:
    """The outbox rows of one tenant."""

    def __init__(self, *, tenant_id: str) -> None:
        self.tenant_id = tenant_id

    def add(
        self,
        *,
        aggregate_type: str,
        aggregate_id: uuid.UUID,
        event_type: str,
        payload: dict[str, Any],
    ) -> OutboxEvent:
        """Insert one pending event in the caller's transaction (its commit wakes the relay)."""
        event = OutboxEvent(
            tenant_id=self.tenant_id,
            aggregate_type=aggregate_type,
            aggregate_id=aggregate_id,
            event_type=event_type,
            payload=payload,
        )
        trace_context = TraceContext.current()
        event.traceparent, event.tracestate = trace_context.traceparent, trace_context.tracestate
        # Plain SQL: every close writes one event, at half of save()'s CPU (measured:
        # docs/DECISIONS.md). The database draws `sequence` (its db_default); the other
        # values are the model's defaults.
        # (Jsonb: what JSONField sends for a jsonb column.)
        values: list[Any] = [
            event.id,
            event.tenant_id,
            event.aggregate_type,
            event.aggregate_id,
            event.event_type,
            Jsonb(event.payload),
            event.created_at,
            event.attempts,
            event.last_error,
            event.traceparent,
            event.tracestate,
        ]
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO outbox (id, tenant_id, aggregate_type, aggregate_id, event_type,
                                    payload, created_at, attempts, last_error,
                                    traceparent, tracestate)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                RETURNING sequence
                """,
                values,
            )
            (event.sequence,) = cursor.fetchone()
        # The event as loaded from the row just written (save() would then update it).
        fields = OutboxEvent._meta.concrete_fields
        return OutboxEvent.from_db(
            connection.alias,
            [field.attname for field in fields],
            [getattr(event, field.attname) for field in fields],
        )

    def for_aggregate(self, aggregate_type: str, aggregate_id: uuid.UUID) -> list[OutboxEvent]:
        """The aggregate's events in the order they were written."""
        return list(
            OutboxEvent.objects.filter(
                tenant_id=self.tenant_id,
                aggregate_type=aggregate_type,
                aggregate_id=aggregate_id,
            ).order_by("sequence")
        )


@dataclass(frozen=True)
class ClaimedEvent:
    """A pending event, locked by the claiming transaction until it ends."""

    id: uuid.UUID
    sequence: int
    tenant_id: str
    aggregate_type: str
    aggregate_id: uuid.UUID
    event_type: str
    payload: dict[str, Any]
    created_at: datetime
    attempts: int
    # The writer's W3C Trace Context (empty: none).
    trace_context: TraceContext


@dataclass(frozen=True)
class Failure:
    """A failed attempt to publish one claimed event, as it is to be stored."""

    event_id: uuid.UUID
    error: str
    attempts: int
    next_attempt_at: datetime | None
    dead_at: datetime | None


@dataclass(frozen=True)
class QueueStatus:
    """What an operator asks first about the outbox."""

    pending: int
    dead: int
    oldest_pending_created_at: datetime | None
    published_last_hour: int

    def oldest_pending_age(self, now: datetime) -> float | None:
        """Seconds the oldest pending event has waited, None when nothing is pending."""
        oldest = self.oldest_pending_created_at
        return (now - oldest).total_seconds() if oldest else None


# Hand-written: the relay sends this in a loop, and its plan (the partial indexes, no
# sort) is checked as this text (orders_project/tests/test_prepared_statements.py).
# Claim the oldest due events, skipping rows another relay holds. An event is claimable
# only when no earlier event of its aggregate is still unpublished (pending, backing
# off, locked by another relay, or dead): that keeps each order's events in commit order
# and lets a stuck event hold back its own order only. Late commits are never skipped,
# because the queue is "every pending row", not "rows after the last sequence seen".
_CLAIM_SQL = """
SELECT o.id, o.sequence, o.tenant_id, o.aggregate_type, o.aggregate_id, o.event_type,
       o.payload, o.created_at, o.attempts, o.traceparent, o.tracestate
FROM outbox o
WHERE o.published_at IS NULL
  AND o.dead_at IS NULL
  AND (o.next_attempt_at IS NULL OR o.next_attempt_at <= %(now)s)
  AND NOT EXISTS (
      SELECT 1 FROM outbox earlier
      WHERE earlier.aggregate_type = o.aggregate_type
        AND earlier.aggregate_id = o.aggregate_id
        AND earlier.sequence < o.sequence
        AND earlier.published_at IS NULL
  )
ORDER BY o.sequence
LIMIT %(limit)s
FOR UPDATE OF o SKIP LOCKED
"""


class RelayQueue:
    """The outbox as the relay's work queue, across all tenants."""

    def claim(self, *, limit: int, now: datetime) -> list[ClaimedEvent]:
        """Lock up to `limit` due events in sequence order; call inside a transaction."""
        with connection.cursor() as cursor:
            cursor.execute(_CLAIM_SQL, {"now": now, "limit": limit})
            rows = cursor.fetchall()
        return [
            ClaimedEvent(
                id=row[0],
                sequence=row[1],
                tenant_id=row[2],
                aggregate_type=row[3],
                aggregate_id=row[4],
                event_type=row[5],
                # Django's connection hands jsonb over as text (JSONField decodes it).
                payload=json.loads(row[6]) if isinstance(row[6], str) else row[6],
                created_at=row[7],
                attempts=row[8],
                trace_context=TraceContext(row[9], row[10]),
            )
            for row in rows
        ]

    def mark_published(self, ids: Iterable[uuid.UUID], *, now: datetime) -> int:
        """Record that the broker confirmed these events."""
        return OutboxEvent.objects.filter(
            pk__in=list(ids), published_at__isnull=True, dead_at__isnull=True
        ).update(published_at=now, last_error="", next_attempt_at=None)

    def record_failures(self, failures: Sequence["Failure"]) -> None:
        """Store failed attempts, one statement for the batch: each event's count,
        error, and retry time or dead mark. The rows are the caller's, locked by its
        claim, so nothing else can have published them meanwhile."""
        OutboxEvent.objects.bulk_update(
            [
                OutboxEvent(
                    pk=failure.event_id,
                    attempts=failure.attempts,
                    last_error=failure.error,
                    next_attempt_at=failure.next_attempt_at,
                    dead_at=failure.dead_at,
                )
                for failure in failures
            ],
            ["attempts", "last_error", "next_attempt_at", "dead_at"],
        )

    def requeue(self, *, ids: Sequence[uuid.UUID] | None, limit: int) -> list[uuid.UUID]:
        """Put up to `limit` dead events (of these ids, or any) back in the queue.

        The dead events are found through `outbox_dead_idx` and locked in sequence
        order, one order for every caller, so two requeues never deadlock.
        """
        dead = OutboxEvent.objects.filter(dead_at__isnull=False, published_at__isnull=True)
        if ids is not None:
            dead = dead.filter(pk__in=list(ids))
        requeued = list(
            dead.select_for_update(of=("self",))
            .order_by("sequence")
            .values_list("pk", flat=True)[:limit]
        )
        OutboxEvent.objects.filter(pk__in=requeued).update(
            dead_at=None, attempts=0, next_attempt_at=None
        )
        return requeued

    def prune_batch(self, *, published_before: datetime, limit: int) -> int:
        """Delete up to `limit` events published before the cutoff; never pending or dead."""
        # Hand-written: one DELETE of a LIMITed batch that skips rows the relay holds locked.
        with connection.cursor() as cursor:
            cursor.execute(
                """
                DELETE FROM outbox WHERE id IN (
                    SELECT id FROM outbox
                    WHERE published_at IS NOT NULL AND published_at < %s
                      AND dead_at IS NULL
                    ORDER BY published_at
                    LIMIT %s
                    FOR UPDATE SKIP LOCKED
                )
                """,
                [published_before, limit],
            )
            return cursor.rowcount

    def status(self, *, now: datetime) -> QueueStatus:
        """Counts of pending and dead events, the oldest pending one, recent throughput."""
        pending = OutboxEvent.objects.filter(published_at__isnull=True, dead_at__isnull=True)
        counts = pending.aggregate(oldest=Min("created_at"))
        return QueueStatus(
            pending=pending.count(),
            dead=OutboxEvent.objects.filter(
                Q(dead_at__isnull=False) & Q(published_at__isnull=True)
            ).count(),
            oldest_pending_created_at=counts["oldest"],
            published_last_hour=OutboxEvent.objects.filter(
                published_at__gte=now - timedelta(hours=1)
            ).count(),
        )
