"""AccessRepository: the only code that queries API keys and tenant memberships.

It never commits: the service that calls it (tenancy.access) owns the transaction.
"""

from datetime import datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import QuerySet

from tenancy.models import ApiKey, TenantMembership


class AccessRepository:
    """API keys and tenant memberships: who may act for which tenant."""

    def add_key(self, key: ApiKey) -> ApiKey:
        key.save(force_insert=True)
        return key

    def _live_keys(self, prefix: str) -> QuerySet[ApiKey]:
        return ApiKey.objects.filter(prefix=prefix, revoked_at__isnull=True)

    def live_key(self, prefix: str) -> ApiKey | None:
        """The unrevoked key with this public prefix."""
        # get(), not first(): the prefix is unique, and first()'s ORDER BY id would make a
        # prepared statement's generic plan sort (orders_project/tests/
        # test_prepared_statements.py).
        try:
            return self._live_keys(prefix).get()
        except ApiKey.DoesNotExist:
            return None

    def revoke_key(self, prefix: str, *, at: datetime) -> bool:
        return self._live_keys(prefix).update(revoked_at=at) == 1

    def save_user(
        self, *, username: str, password: str, staff: bool
    ) -> tuple[AbstractBaseUser, bool]:
        user, created = get_user_model().objects.get_or_create(username=username)
        user.set_password(password)
        user.is_staff = user.is_staff or staff
        user.save()
        return user, created

    def add_membership(self, user_id: int, tenant_id: str) -> None:
        TenantMembership.objects.get_or_create(user_id=user_id, tenant_id=tenant_id)

    def tenants_of(self, user_id: int) -> list[str]:
        return list(
            TenantMembership.objects.filter(user_id=user_id).values_list("tenant_id", flat=True)
        )
