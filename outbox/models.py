"""The `outbox` table: events committed with the change that caused them.

Its columns are what Debezium's outbox event router reads as-is (id, aggregate_type,
aggregate_id, event_type, payload), the W3C trace context of the transaction that wrote
the event (traceparent, tracestate), plus what a relay needs to publish each event at
least once and in order: a sequence, attempts, the last error and the next attempt.
"""

import uuid

from django.db import models
from django.db.models import Func, Q, Value
from django.utils import timezone

SEQUENCE_NAME = "outbox_sequence_seq"


class NextVal(Func):
    """nextval('<sequence>') as a database default."""

    function = "nextval"
    output_field = models.BigIntegerField()

    def __init__(self, sequence: str) -> None:
        super().__init__(Value(sequence))


class OutboxEvent(models.Model):
    """One event to publish; pending until `published_at`, or parked at `dead_at`."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Drawn from a sequence at INSERT. Events of one aggregate are written under that
    # aggregate's row lock, so for one aggregate this order is its commit order.
    sequence = models.BigIntegerField(
        unique=True, editable=False, db_default=NextVal(SEQUENCE_NAME)
    )
    tenant_id = models.CharField(max_length=64)
    aggregate_type = models.CharField(max_length=64)
    aggregate_id = models.UUIDField()
    event_type = models.CharField(max_length=128)
    payload = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)
    # The writer's W3C Trace Context, published as the message's headers of the same
    # names; empty when the writer had none. A database default, so that other writers
    # of the table (and the previous release during a deploy) need not name them.
    traceparent = models.TextField(blank=True, db_default="")
    tracestate = models.TextField(blank=True, db_default="")
    published_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    dead_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "outbox"
        indexes = [
            # The relay's work queue: unpublished, live events in sequence order.
            models.Index(
                fields=["sequence"],
                name="outbox_pending_idx",
                condition=Q(published_at__isnull=True, dead_at__isnull=True),
            ),
            models.Index(
                fields=["aggregate_type", "aggregate_id", "sequence"],
                name="outbox_aggregate_idx",
            ),
            models.Index(fields=["tenant_id", "created_at"], name="outbox_tenant_created_idx"),
            # The claim's "no earlier unpublished event of this aggregate" check, kept
            # small however many published rows the table holds.
            models.Index(
                fields=["aggregate_type", "aggregate_id", "sequence"],
                name="outbox_unpublished_agg_idx",
                condition=Q(published_at__isnull=True),
            ),
            # Pruning and "published in the last hour".
            models.Index(
                fields=["published_at"],
                name="outbox_published_at_idx",
                condition=Q(published_at__isnull=False),
            ),
            # Dead events, few among millions: the admin's "dead" list, outbox_status and
            # outbox_requeue find them without reading the table. Only parked rows enter it.
            models.Index(
                fields=["sequence"],
                name="outbox_dead_idx",
                condition=Q(dead_at__isnull=False),
            ),
            # The admin's list of one tenant's events, newest first.
            models.Index(fields=["tenant_id", "sequence"], name="outbox_tenant_sequence_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.aggregate_type}:{self.aggregate_id} #{self.sequence}"

    @property
    def state(self) -> str:
        """pending, published or dead, for people reading the admin."""
        if self.published_at is not None:
            return "published"
        if self.dead_at is not None:
            return "dead"
        return "pending"
