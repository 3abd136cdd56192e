"""factory_boy factories for outbox rows in each state the relay knows."""

import uuid

import factory
from django.utils import timezone

from outbox.models import OutboxEvent


class OutboxEventFactory(factory.django.DjangoModelFactory[OutboxEvent]):
    """A pending `orders.closed` event of its own order; traits: `published`, `dead`."""

    class Meta:
        model = OutboxEvent

    class Params:
        published = factory.Trait(published_at=factory.LazyFunction(timezone.now))
        dead = factory.Trait(
            dead_at=factory.LazyFunction(timezone.now), attempts=10, last_error="unroutable"
        )

    tenant_id = "tenant-1"
    aggregate_type = "order"
    aggregate_id = factory.LazyFunction(uuid.uuid4)
    event_type = "orders.closed"
    payload = factory.LazyAttribute(
        lambda o: {"orderId": str(o.aggregate_id), "tenantId": o.tenant_id, "totalCents": 5000}
    )
