"""Admin for API keys and tenant memberships: keys are issued and revoked through the
services (tenancy.access), which alone know how a key is made and stored."""

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from tenancy.access import api_key_create, api_key_revoke
from tenancy.models import ApiKey, TenantMembership


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
