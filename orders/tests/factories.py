"""factory_boy factories for orders in each state the domain allows.

`OrderFactory()` is a draft; the `draft`, `confirmed` and `closed` traits (or the
`DraftOrderFactory` / `ConfirmedOrderFactory` / `ClosedOrderFactory` shortcuts) give
rows that satisfy every check constraint of the `orders` table, with the version a
real walk through the services would have reached.
"""

from datetime import timedelta

import factory
from django.utils import timezone

from orders.models import Order

DEFAULT_TENANT = "tenant-1"
DEFAULT_TOTAL_CENTS = 5000


class OrderFactory(factory.django.DjangoModelFactory[Order]):
    """A draft order of tenant-1 at version 1; traits move it along its lifecycle."""

    class Meta:
        model = Order

    class Params:
        draft = factory.Trait(
            status=Order.Status.DRAFT, version=1, total_cents=None, closed_at=None
        )
        confirmed = factory.Trait(
            status=Order.Status.CONFIRMED,
            version=2,
            total_cents=DEFAULT_TOTAL_CENTS,
            updated_at=factory.LazyAttribute(lambda o: o.created_at + timedelta(seconds=1)),
        )
        closed = factory.Trait(
            status=Order.Status.CLOSED,
            version=3,
            total_cents=DEFAULT_TOTAL_CENTS,
            closed_at=factory.LazyAttribute(lambda o: o.created_at + timedelta(seconds=2)),
            updated_at=factory.SelfAttribute("closed_at"),
        )

    tenant_id = DEFAULT_TENANT
    status = Order.Status.DRAFT
    version = 1
    total_cents = None
    created_at = factory.LazyFunction(timezone.now)
    updated_at = factory.SelfAttribute("created_at")
    closed_at = None


class DraftOrderFactory(OrderFactory):
    """A draft: version 1, no total, not closed."""

    draft = True


class ConfirmedOrderFactory(OrderFactory):
    """A confirmed order: version 2 with its total fixed."""

    confirmed = True


class ClosedOrderFactory(OrderFactory):
    """A closed order: version 3, total fixed, `closed_at` set."""

    closed = True
