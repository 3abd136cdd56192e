"""The orders admin shows orders and their outbox events, and lets nobody edit them."""

import pytest
from django.test import Client

from orders import services
from orders.models import Order
from outbox.models import OutboxEvent

pytestmark = pytest.mark.django_db


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
