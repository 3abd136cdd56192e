"""Who may act for a tenant, as stored: API keys (`api_keys`) and the tenant memberships
of user accounts (`tenant_memberships`)."""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class ApiKey(models.Model):
    """A secret that lets a caller act for one tenant (TENANT_AUTH_MODE=api-key).

    Only a SHA-256 digest of the key is stored: the keys are long random strings, so a
    fast hash is as safe as a slow one and keeps authentication to one indexed lookup.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant_id = models.CharField(max_length=64)
    name = models.CharField(max_length=100)
    # The public part of the key, shown in the admin and used to find the row.
    prefix = models.CharField(max_length=32, unique=True)
    digest = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "api_keys"
        indexes = [models.Index(fields=["tenant_id"], name="api_keys_tenant_idx")]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.tenant_id}: {self.name})"


class TenantMembership(models.Model):
    """A user account may act for this tenant in browser sessions."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tenant_memberships"
    )
    tenant_id = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "tenant_memberships"
        constraints = [
            models.UniqueConstraint(fields=["user", "tenant_id"], name="tenant_memberships_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.user} → {self.tenant_id}"
