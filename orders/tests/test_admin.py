"""The admin shows orders, outbox events and idempotency keys, and lets nobody edit them."""

import pytest
from django.test import Client

from orders import services
from orders.models import Order
from orders.tests.http import create
from outbox.models import OutboxEvent
from outbox.tests.factories import OutboxEventFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def closed_order() -> Order:
    order = services.order_create(tenant_id="tenant-1")
    services.order_confirm(
        tenant_id="tenant-1", order_id=order.pk, total_cents=700, expected_version=1
    )
    return services.order_close(tenant_id="tenant-1", order_id=order.pk, expected_version=2)


def test_order_changelist_searches_by_id_and_filters_by_tenant_and_status(
    admin_client: Client, closed_order: Order
) -> None:
    # given
    other = services.order_create(tenant_id="tenant-2")

    # when
    by_id = admin_client.get("/admin/orders/order/", {"q": str(closed_order.pk)})
    by_filters = admin_client.get(
        "/admin/orders/order/", {"tenant_id": "tenant-2", "status__exact": "draft"}
    )
    bad_search = admin_client.get("/admin/orders/order/", {"q": "not-a-uuid"})

    # then
    assert by_id.status_code == 200
    assert str(closed_order.pk) in by_id.text
    assert str(other.pk) not in by_id.text
    assert str(other.pk) in by_filters.text
    assert str(closed_order.pk) not in by_filters.text
    assert bad_search.status_code == 200


def test_order_detail_is_read_only_and_lists_its_outbox_event(
    admin_client: Client, closed_order: Order
) -> None:
    # when
    page = admin_client.get(f"/admin/orders/order/{closed_order.pk}/change/")
    post = admin_client.post(f"/admin/orders/order/{closed_order.pk}/change/", {"status": "draft"})

    # then
    assert page.status_code == 200
    assert "orders.closed" in page.text
    event = OutboxEvent.objects.get(aggregate_id=closed_order.pk)
    assert f'href="/admin/outbox/outboxevent/{event.pk}/change/"' in page.text
    assert 'name="_save"' not in page.text
    assert post.status_code == 403
    closed_order.refresh_from_db()
    assert closed_order.status == Order.Status.CLOSED
    assert admin_client.get("/admin/orders/order/add/").status_code == 403


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


def test_idempotency_keys_are_listed_read_only(admin_client: Client, api: Client) -> None:
    # given
    create(api, key="admin-key")

    # when
    live = admin_client.get("/admin/idempotency/idempotencykey/", {"expired": "no"})
    expired = admin_client.get("/admin/idempotency/idempotencykey/", {"expired": "yes"})

    # then
    assert "admin-key" in live.text
    assert "admin-key" not in expired.text
    assert admin_client.get("/admin/idempotency/idempotencykey/add/").status_code == 403


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


def test_the_tenant_filter_takes_the_tenant_as_input_and_keeps_the_other_filters(
    admin_client: Client, closed_order: Order
) -> None:
    # given
    other = services.order_create(tenant_id="tenant-2")

    # when: a tenant typed in, with a status filter and a page number in the query
    page = admin_client.get(
        "/admin/orders/order/", {"tenant_id": " tenant-2 ", "status__exact": "draft", "p": "1"}
    )

    # then: that tenant's orders only, and the box shows the tenant
    assert str(other.pk) in page.text
    assert str(closed_order.pk) not in page.text
    assert 'name="tenant_id" value="tenant-2"' in page.text
    # and a new tenant keeps the status filter but starts again at page 1
    assert '<input type="hidden" name="status__exact" value="draft">' in page.text
    assert '<input type="hidden" name="p"' not in page.text
    # and no filter lists the tenants (that would read every row)
    assert "?tenant_id=tenant-1" not in page.text


def test_idempotency_keys_are_found_with_their_tenant(admin_client: Client, api: Client) -> None:
    # given: the same key used by two tenants
    create(api, key="shared-key")
    create(Client(headers={"X-Tenant-Id": "tenant-2"}), key="shared-key")
    create(api, key="other-key")
    keys = "/admin/idempotency/idempotencykey/"

    # when
    by_pair = admin_client.get(keys, {"q": "tenant-2/shared-key"})
    in_tenant = admin_client.get(keys, {"tenant_id": "tenant-1", "q": "shared-key"})
    by_tenant = admin_client.get(keys, {"q": "tenant-1"})
    bare_key = admin_client.get(keys, {"q": "shared-key"})

    # then: "tenant/key" and a key within a tenant's list are that one row
    assert "1 idempotency key" in by_pair.text
    assert "tenant-2" in by_pair.text
    assert "1 idempotency key" in in_tenant.text
    assert "other-key" not in in_tenant.text
    # and anything else is a tenant id
    assert "2 idempotency keys" in by_tenant.text
    assert "0 idempotency keys" in bare_key.text
