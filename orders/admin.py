"""Admin for orders: read-only, since every change must go through the services."""

import uuid
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from orders.access import api_key_create, api_key_revoke
from orders.models import ApiKey, Order, TenantMembership
from orders.services import ORDER_AGGREGATE
from orders_project.large_admin import ExactValueFilter, LargeTableAdmin
from outbox.repository import OutboxRepository


class ReadOnlyAdminMixin:
    """Inspect only: writes here would bypass versions, state rules and the outbox."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class TenantFilter(ExactValueFilter):
    """Rows of one tenant, typed in: listing every tenant would scan the table."""

    title = "tenant"
    parameter_name = "tenant_id"
    field_name = "tenant_id"


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


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """API keys: issued here or with `manage.py create_api_key`; the secret shows once."""

    list_display = ("prefix", "tenant_id", "name", "created_at", "revoked_at")
    list_filter = ("tenant_id", ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("=prefix", "=tenant_id", "name")
    fields = ("tenant_id", "name")
    actions = ("revoke",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return ("tenant_id", "name", "prefix", "created_at", "revoked_at") if obj else ()

    def get_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return self.get_readonly_fields(request, obj) if obj else ("tenant_id", "name")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        # Issued through the service, which alone knows how keys are made and stored.
        issued = api_key_create(tenant_id=obj.tenant_id, name=obj.name)
        obj.pk = issued.key.pk
        obj.prefix = issued.key.prefix
        self.message_user(
            request,
            f"Key for {obj.tenant_id}: {issued.secret} (copy it now; it is not shown again).",
            messages.WARNING,
        )

    @admin.action(description="Revoke selected keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        revoked = sum(api_key_revoke(prefix=key.prefix) for key in queryset)
        self.message_user(request, f"Revoked {revoked} key(s).")


@admin.register(TenantMembership)
class TenantMembershipAdmin(admin.ModelAdmin):
    """Which user accounts may act for which tenants in the browser."""

    list_display = ("user", "tenant_id", "created_at")
    list_filter = ("tenant_id",)
    search_fields = ("user__username", "=tenant_id")
    autocomplete_fields = ("user",)
