"""Admin for idempotency keys: read-only, filterable by tenant and expiry."""

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from idempotency.models import IdempotencyKey
from orders.admin import ReadOnlyAdminMixin


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
class IdempotencyKeyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Stored responses of idempotent requests, by tenant and key."""

    list_display = ("key", "tenant_id", "response_status", "created_at", "expires_at")
    list_filter = (ExpiredFilter, "tenant_id")
    search_fields = ("=key", "=tenant_id")
    ordering = ("-created_at",)
    show_full_result_count = False
    readonly_fields = [field.name for field in IdempotencyKey._meta.fields]
