"""seed_orders fills a database the API can serve, with every invariant intact."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count
from django.utils import timezone

from idempotency.models import IdempotencyKey
from orders.models import Order
from orders.tests.http import list_orders
from outbox.models import OutboxEvent

pytestmark = pytest.mark.django_db


def test_seeded_orders_are_consistent_and_served_by_the_api(client_for) -> None:
    # when
    out = StringIO()
    call_command(
        "seed_orders",
        "--tenants=3",
        "--orders=1200",
        "--batch-size=500",
        "--no-progress",
        stdout=out,
    )

    # then every order is there, spread over the tenants
    assert "Seeded 1200 order(s) across 3 tenant(s)." in out.getvalue()
    per_tenant = dict(Order.objects.values_list("tenant_id").annotate(n=Count("id")))
    assert per_tenant == {"tenant-1": 400, "tenant-2": 400, "tenant-3": 400}
    # and versions count the writes each state implies
    for status, version in (("draft", 1), ("confirmed", 2), ("closed", 3)):
        assert set(Order.objects.filter(status=status).values_list("version", flat=True)) == {
            version
        }
    # and every closed order has exactly one published orders.closed event
    closed = set(Order.objects.filter(status="closed").values_list("id", flat=True))
    events = OutboxEvent.objects.filter(event_type="orders.closed")
    assert sorted(events.values_list("aggregate_id", flat=True)) == sorted(closed)
    assert not events.filter(published_at__isnull=True).exists()
    # and the API pages through a seeded tenant newest first
    page = list_orders(client_for("tenant-2"), limit=100).json()
    created = [item["createdAt"] for item in page["items"]]
    assert len(created) == 100
    assert created == sorted(created, reverse=True)
    assert page["nextCursor"] is not None


def test_seeded_idempotency_keys_span_two_retention_periods() -> None:
    # when
    out = StringIO()
    call_command(
        "seed_orders", "--tenants=4", "--orders=0", "--idempotency-keys=400", "--no-progress",
        stdout=out,
    )  # fmt: skip

    # then: every tenant has its share, half of them past their retention
    assert "Seeded 400 idempotency key(s)." in out.getvalue()
    per_tenant = dict(IdempotencyKey.objects.values_list("tenant_id").annotate(n=Count("id")))
    assert per_tenant == {f"tenant-{n}": 100 for n in range(1, 5)}
    expired = IdempotencyKey.objects.filter(expires_at__lte=timezone.now()).count()
    assert 195 <= expired <= 205
    # and each stores a create's response, as the API would replay it
    key = IdempotencyKey.objects.latest("created_at")
    assert key.response_status == 201
    assert key.response_body is not None
    assert json.loads(bytes(key.response_body))["tenantId"] == key.tenant_id


def test_seed_orders_refuses_nonsense_sizes() -> None:
    with pytest.raises(CommandError):
        call_command("seed_orders", "--tenants=0", "--orders=10", "--no-progress")
    assert not Order.objects.exists()
