"""Admin for orders: read-only, since every change must go through the services."""

import uuid

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from orders.models import Order
from orders.services import ORDER_AGGREGATE
from orders_project.large_admin import LargeTableAdmin, ReadOnlyAdminMixin, TenantFilter
from outbox.repository import OutboxRepository


@admin.register(Order)
class OrderAdmin(ReadOnlyAdminMixin, LargeTableAdmin):
    """Orders, newest first: found by id or tenant, filtered by tenant, status and date.

    Every list is a walk of an index in `ordering`'s order: `orders_created_id_idx`, or
    with a tenant `orders_tenant_created_id_idx` / `orders_tenant_status_idx`.
    """

    list_display = (
        "id",
        "tenant_id",
        "status",
        "version",
        "total_cents",
        "created_at",
        "closed_at",
    )
    # status: its choices come from the model; created_at: fixed ranges (today, past 7
    # days, ...), a range of the index the list walks. No closed_at filter: no index
    # serves it, so a rare range would walk the whole table looking for matches. No
    # date_hierarchy either: its year and month links are a DISTINCT over every row.
    list_filter = (TenantFilter, "status", "created_at")
    # Shows the search box; `search` says what a term matches.
    search_fields = ("id", "tenant_id")
    search_help_text = "An order id (opens just that order) or a tenant id, exactly."
    ordering = ("-created_at", "-id")
    readonly_fields = [*(field.name for field in Order._meta.fields), "outbox_events"]

    def search(
        self, request: HttpRequest, queryset: QuerySet[Order], term: str
    ) -> QuerySet[Order]:
        # An id is one primary-key lookup; anything else is taken as a tenant id.
        try:
            order_id = uuid.UUID(term)
        except ValueError:
            return queryset.filter(tenant_id=term)
        return queryset.filter(pk=order_id)

    @admin.display(description="Outbox events")
    def outbox_events(self, order: Order) -> str:
        events = OutboxRepository(tenant_id=order.tenant_id).for_aggregate(
            ORDER_AGGREGATE, order.pk
        )
        rows = format_html_join(
            "",
            '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>',
            (
                (
                    reverse("admin:outbox_outboxevent_change", args=[event.pk]),
                    event.sequence,
                    event.event_type,
                    event.state,
                    event.published_at or "-",
                )
                for event in events
            ),
        )
        if not rows:
            return "-"
        return format_html(
            "<table><tr><th>#</th><th>event</th><th>state</th><th>published</th></tr>{}</table>",
            rows,
        )
