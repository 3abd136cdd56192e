"""Admin for the outbox: inspect events, filter by state and tenant, requeue dead ones."""

import json
import uuid
from typing import Any

from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from orders_project.large_admin import LargeTableAdmin, ReadOnlyAdminMixin, TenantFilter
from outbox.aggregates import AGGREGATE_TYPES
from outbox.models import OutboxEvent
from outbox.services import outbox_requeue


class StateFilter(admin.SimpleListFilter):
    """pending / published / dead, as the relay sees them.

    Pending and dead events have partial indexes of their own (`outbox_pending_idx`,
    `outbox_dead_idx`), so the few among millions are found without a walk.
    """

    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("pending", "Pending"), ("published", "Published"), ("dead", "Dead")]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[OutboxEvent]
    ) -> QuerySet[OutboxEvent]:
        match self.value():
            case "pending":
                return queryset.filter(published_at__isnull=True, dead_at__isnull=True)
            case "published":
                return queryset.filter(published_at__isnull=False)
            case "dead":
                return queryset.filter(dead_at__isnull=False)
        return queryset


@admin.register(OutboxEvent)
class OutboxEventAdmin(ReadOnlyAdminMixin, LargeTableAdmin):
    """Outbox events, newest first: found by event, order or tenant id, filtered by state.

    The list walks the sequence's unique index, the partial indexes of pending and dead
    events, or `outbox_tenant_sequence_idx` for one tenant.
    """

    list_display = (
        "sequence",
        "event_type",
        "aggregate_id",
        "tenant_id",
        "state",
        "attempts",
        "created_at",
        "published_at",
    )
    # No event_type filter: its choices would be a DISTINCT over every row, and a rare
    # type's page would walk the whole table looking for matches.
    list_filter = (StateFilter, TenantFilter)
    # Shows the search box; `search` says what a term matches.
    search_fields = ("id", "aggregate_id", "tenant_id")
    search_help_text = "An event id, an order id (its events) or a tenant id, exactly."
    ordering = ("-sequence",)
    readonly_fields = [
        *(field.name for field in OutboxEvent._meta.fields if field.name != "payload"),
        "payload_pretty",
    ]
    exclude = ("payload",)

    def search(
        self, request: HttpRequest, queryset: QuerySet[OutboxEvent], term: str
    ) -> QuerySet[OutboxEvent]:
        # An id is the event's primary key or an aggregate's id; the aggregate index
        # leads with the type, so the lookup names the registered types
        # (outbox.aggregates). Anything else is taken as a tenant id.
        try:
            some_id = uuid.UUID(term)
        except ValueError:
            return queryset.filter(tenant_id=term)
        by_aggregate = Q(aggregate_type__in=sorted(AGGREGATE_TYPES), aggregate_id=some_id)
        return queryset.filter(Q(pk=some_id) | by_aggregate)

    @admin.display(description="Payload")
    def payload_pretty(self, event: OutboxEvent) -> str:
        return format_html("<pre>{}</pre>", json.dumps(event.payload, indent=2, sort_keys=True))

    actions = ["requeue_dead_events"]

    def has_requeue_permission(self, request: HttpRequest) -> bool:
        # Rows stay read-only; requeueing goes through the service, for those who may
        # change outbox events (superusers, or a granted outbox.change_outboxevent).
        return request.user.has_perm("outbox.change_outboxevent")

    @admin.action(description="Requeue dead events", permissions=["requeue"])
    def requeue_dead_events(self, request: HttpRequest, queryset: QuerySet[OutboxEvent]) -> None:
        result = outbox_requeue(event_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(
            request, f"Requeued {len(result.requeued)} dead event(s).", messages.SUCCESS
        )
        if result.not_dead:
            self.message_user(
                request,
                f"{len(result.not_dead)} selected event(s) were not dead and were left alone.",
                messages.WARNING,
            )
