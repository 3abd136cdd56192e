"""The order aggregate, stored in the `orders` table."""

import uuid

from django.db import models
from django.db.models import F, Q
from django.utils import timezone

MAX_TOTAL_CENTS = 2_147_483_647


class Order(models.Model):
    """An order of one tenant, moving draft → confirmed → closed."""

    class Status(models.TextChoices):
        DRAFT = "draft"
        CONFIRMED = "confirmed"
        CLOSED = "closed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant_id = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    version = models.PositiveIntegerField(default=1)
    total_cents = models.IntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "orders"
        indexes = [
            # Serves keyset pagination: WHERE tenant_id = ? ORDER BY created_at DESC, id DESC.
            models.Index(
                F("tenant_id"),
                F("created_at").desc(),
                F("id").desc(),
                name="orders_tenant_created_id_idx",
            ),
            # The same walk restricted to one status.
            models.Index(
                F("tenant_id"),
                F("status"),
                F("created_at").desc(),
                F("id").desc(),
                name="orders_tenant_status_idx",
            ),
            # The admin's list of every tenant's orders, newest first. created_at never
            # changes after the insert, so confirm and close stay HOT updates.
            models.Index(F("created_at").desc(), F("id").desc(), name="orders_created_id_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["draft", "confirmed", "closed"]),
                name="orders_status_valid",
            ),
            models.CheckConstraint(condition=Q(version__gte=1), name="orders_version_positive"),
            models.CheckConstraint(
                condition=Q(total_cents__isnull=True)
                | Q(total_cents__gte=0, total_cents__lte=MAX_TOTAL_CENTS),
                name="orders_total_cents_range",
            ),
            models.CheckConstraint(
                condition=Q(status="draft", total_cents__isnull=True)
                | Q(status__in=["confirmed", "closed"], total_cents__isnull=False),
                name="orders_total_set_once_confirmed",
            ),
            models.CheckConstraint(
                condition=Q(status="closed", closed_at__isnull=False)
                | (~Q(status="closed") & Q(closed_at__isnull=True)),
                name="orders_closed_at_iff_closed",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.id} ({self.tenant_id}, {self.status}, v{self.version})"
