"""Admin for orders: read-only, since every change must go through the services."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from orders.models import Order
from outbox.models import OutboxEvent


class ReadOnlyAdminMixin:
    """Inspect only: writes here would bypass versions, state rules and the outbox."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Order)
class OrderAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Orders, searchable by id and tenant, filterable by tenant, status and dates."""

    list_display = (
        "id",
        "tenant_id",
        "status",
        "version",
        "total_cents",
        "created_at",
        "closed_at",
    )
    list_filter = ("status", "tenant_id", "created_at", "closed_at")
    search_fields = ("=id", "=tenant_id")
    ordering = ("-created_at", "-id")
    date_hierarchy = "created_at"
    show_full_result_count = False
    readonly_fields = [*(field.name for field in Order._meta.fields), "outbox_events"]

    @admin.display(description="Outbox events")
    def outbox_events(self, order: Order) -> str:
        events = OutboxEvent.objects.filter(aggregate_type="order", aggregate_id=order.pk)
        return (
            ", ".join(
                f"{e.event_type} #{e.sequence} ({e.state})" for e in events.order_by("sequence")
            )
            or "-"
        )
