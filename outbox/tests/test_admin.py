"""The outbox admin: events found by event, order or tenant id, filtered by state, and
dead ones requeued through the service; nobody edits an event."""

import pytest
from django.test import Client

from orders import services
from orders.models import Order
from outbox.models import OutboxEvent
from outbox.tests.factories import OutboxEventFactory

pytestmark = pytest.mark.django_db


def test_outbox_changelist_filters_by_state(admin_client: Client, closed_order: Order) -> None:
    # given
    event = OutboxEvent.objects.get(aggregate_id=closed_order.pk)

    # when
    pending = admin_client.get("/admin/outbox/outboxevent/", {"state": "pending"})
    published = admin_client.get("/admin/outbox/outboxevent/", {"state": "published"})
    detail = admin_client.get(f"/admin/outbox/outboxevent/{event.pk}/change/")

    # then
    assert str(closed_order.pk) in pending.text
    assert str(closed_order.pk) not in published.text
    assert detail.status_code == 200
    # the payload is shown pretty-printed, one key per line
    assert "<pre>{\n  &quot;closedAt&quot;: " in detail.text
    assert f"\n  &quot;orderId&quot;: &quot;{closed_order.pk}&quot;,\n" in detail.text
    assert admin_client.get("/admin/outbox/outboxevent/add/").status_code == 403


def test_outbox_changelist_searches_by_id_and_filters_by_tenant(
    admin_client: Client, closed_order: Order
) -> None:
    # given: an event of tenant-1 and one of tenant-2
    other = services.order_create(tenant_id="tenant-2")
    services.order_confirm(
        tenant_id="tenant-2", order_id=other.pk, total_cents=1, expected_version=1
    )
    services.order_close(tenant_id="tenant-2", order_id=other.pk, expected_version=2)
    mine = OutboxEvent.objects.get(aggregate_id=closed_order.pk)
    theirs = OutboxEvent.objects.get(aggregate_id=other.pk)

    # when
    by_id = admin_client.get("/admin/outbox/outboxevent/", {"q": str(mine.pk)})
    by_order = admin_client.get("/admin/outbox/outboxevent/", {"q": str(other.pk)})
    by_tenant = admin_client.get("/admin/outbox/outboxevent/", {"tenant_id": "tenant-2"})

    # then: each page lists exactly the matching event
    changelist = "/admin/outbox/outboxevent/{}/change/"
    assert changelist.format(mine.pk) in by_id.text
    assert changelist.format(theirs.pk) not in by_id.text
    assert changelist.format(theirs.pk) in by_order.text
    assert changelist.format(mine.pk) not in by_order.text
    assert changelist.format(theirs.pk) in by_tenant.text
    assert changelist.format(mine.pk) not in by_tenant.text


def test_requeueing_dead_events_says_what_it_did_after_the_redirect(
    admin_client: Client,
) -> None:
    # given: one dead event and one still pending
    dead = OutboxEventFactory.create(dead=True)
    pending = OutboxEventFactory.create()

    # when: the action runs on both, and the browser follows the redirect
    page = admin_client.post(
        "/admin/outbox/outboxevent/",
        {"action": "requeue_dead_events", "_selected_action": [str(dead.pk), str(pending.pk)]},
        follow=True,
    )

    # then: the dead one is pending again, and the page says so, and what it left alone
    assert page.status_code == 200
    assert page.redirect_chain[-1] == ("/admin/outbox/outboxevent/", 302)
    assert "Requeued 1 dead event(s)." in page.text
    assert "1 selected event(s) were not dead and were left alone." in page.text
    dead.refresh_from_db()
    assert dead.dead_at is None
    assert dead.attempts == 0
    # and: a message is shown once, not again on the next page
    assert "Requeued 1 dead event(s)." not in admin_client.get("/admin/outbox/outboxevent/").text
