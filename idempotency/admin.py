"""Admin for idempotency keys: read-only, filterable by tenant and expiry."""

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from idempotency.models import IdempotencyKey
from orders_project.large_admin import LargeTableAdmin, ReadOnlyAdminMixin, TenantFilter


class ExpiredFilter(admin.SimpleListFilter):
    """Keys past their retention, which `purge_idempotency_keys` deletes."""

    title = "expired"
    parameter_name = "expired"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Expired"), ("no", "Live")]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[IdempotencyKey]
    ) -> QuerySet[IdempotencyKey]:
        now = timezone.now()
        match self.value():
            case "yes":
                return queryset.filter(expires_at__lte=now)
            case "no":
                return queryset.filter(expires_at__gt=now)
        return queryset


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(ReadOnlyAdminMixin, LargeTableAdmin):
    """Stored responses of idempotent requests, newest first, by tenant and key."""

    list_display = ("key", "tenant_id", "response_status", "created_at", "expires_at")
    list_filter = (ExpiredFilter, TenantFilter)
    # Shows the search box; `search` says what a term matches.
    search_fields = ("key", "tenant_id")
    search_help_text = (
        "tenant/key for one key, a key when filtered by its tenant, or a tenant id, exactly."
    )
    # Newest first by the expiry index, which every key has (its TTL is the same for all):
    # expired and live keys are ranges of it. The admin appends the primary key to make
    # the order total; PostgreSQL sorts only the ties, incrementally. No index is added
    # for the admin: every keyed request writes this table.
    ordering = ("-expires_at",)
    readonly_fields = [field.name for field in IdempotencyKey._meta.fields]

    def search(
        self, request: HttpRequest, queryset: QuerySet[IdempotencyKey], term: str
    ) -> QuerySet[IdempotencyKey]:
        # Keys are unique per tenant, and the unique index leads with the tenant, so a
        # key is looked up with its tenant: "tenant/key" (a tenant id has no "/"), or a
        # bare key in a list already filtered by tenant. Anything else is a tenant id.
        tenant_id, slash, key = term.partition("/")
        if slash:
            return queryset.filter(tenant_id=tenant_id, key=key)
        if request.GET.get(TenantFilter.parameter_name, "").strip():
            return queryset.filter(key=term)
        return queryset.filter(tenant_id=term)
