"""Admin for the outbox: inspect events, filter by state, tenant and type."""

import json
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from orders.admin import ReadOnlyAdminMixin
from outbox.models import OutboxEvent
from outbox.services import outbox_requeue


class StateFilter(admin.SimpleListFilter):
    """pending / published / dead, as the relay sees them."""

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
class OutboxEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Outbox events, searchable by event and aggregate id."""

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
    list_filter = (StateFilter, "event_type", "tenant_id")
    search_fields = ("=id", "=aggregate_id", "=tenant_id")
    ordering = ("-sequence",)
    show_full_result_count = False
    readonly_fields = [
        *(field.name for field in OutboxEvent._meta.fields if field.name != "payload"),
        "payload_pretty",
    ]
    exclude = ("payload",)

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
