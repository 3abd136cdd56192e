"""End to end in a real browser: a member walks an order's lifecycle in the browsable API.

Headless Chromium (Debian's `chromium`) driven by Playwright; screenshots of every step
are kept in test-artifacts/browser/. Without a browser the test is skipped with the
reason, except under CI (CI=true), where .ci/run installs one and a skip would hide a
missing piece: there it fails.
"""

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model

from orders.models import Order
from orders.tests.factories import OrderFactory
from outbox.models import OutboxEvent
from tenancy.access import tenant_user_save

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts" / "browser"

try:
    from playwright.sync_api import Browser, Page, expect, sync_playwright
except ImportError:  # pragma: no cover - reported by the fixture below
    sync_playwright = None  # type: ignore[assignment]


@pytest.fixture(scope="module")
def browser() -> Iterator["Browser"]:
    missing = ("the playwright package" if sync_playwright is None else None) or (
        None if shutil.which(CHROMIUM) else f"Chromium at {CHROMIUM}"
    )
    if missing:
        message = (
            f"browser test needs {missing} (apt-get install chromium; pip install playwright)"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    # Playwright's sync API keeps an event loop in this thread, and Django refuses DB
    # calls from a thread with a loop; the loop only waits on the browser, so the
    # test's own queries are safe. Set for this module only.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield instance
        instance.close()
    if previous is None:
        del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def shot(page: "Page", name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def log_in(page: "Page", base: str, username: str, password: str, path: str = "/orders") -> None:
    page.goto(base + path)
    expect(page).to_have_url(re.compile(r"/api-auth/login/"))
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("[type=submit]")


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(180)
def test_a_member_walks_the_whole_lifecycle_in_the_browser(browser, live_server) -> None:
    # given: alice may act for tenant-1 and tenant-2
    tenant_user_save(
        username="alice",
        password="tulip-orbit-9314",
        tenants=["tenant-1", "tenant-2"],
        staff=False,
    )
    base = live_server.url
    page = browser.new_page()
    page.set_default_timeout(15_000)

    # when she opens /orders she is asked to log in, then lands on tenant-1's orders
    log_in(page, base, "alice", "tulip-orbit-9314")
    expect(page).to_have_url(re.compile(r"/orders$"))
    expect(page.locator("#tenant-select")).to_have_value("tenant-1")
    shot(page, "01-orders-empty")

    # and creates a draft: the page supplies the idempotency key and follows Location
    page.click("#create-order")
    expect(page).to_have_url(re.compile(r"/orders/[0-9a-f-]{36}$"))
    order_id = page.url.rsplit("/", 1)[1]
    expect(page.locator("#confirm-form button")).to_have_text("Confirm version 1")
    shot(page, "02-draft")

    # a second tab still shows version 1
    stale = browser.new_page()
    stale.context.add_cookies(page.context.cookies())
    stale.goto(f"{base}/orders/{order_id}")

    # she confirms with a total: the version she saw is the precondition
    page.fill("#totalCents", "5000")
    page.click("#confirm-form button")
    expect(page.locator("#close-form button")).to_have_text("Close version 2")
    shot(page, "03-confirmed")

    # the stale tab's confirm is refused, and says why
    stale.fill("#totalCents", "1")
    stale.click("#confirm-form button")
    expect(stale.locator("#action-error")).to_contain_text("stale_version")
    shot(stale, "04-stale-refused")

    # she closes it
    page.click("#close-form button")
    expect(page.locator(".response-info")).to_contain_text('"status": "closed"')
    shot(page, "05-closed")

    # then the database agrees: closed at version 3, one outbox event, nothing else made
    order = Order.objects.get(pk=order_id)
    assert (order.tenant_id, order.status, order.version, order.total_cents) == (
        "tenant-1",
        "closed",
        3,
        5000,
    )
    assert OutboxEvent.objects.filter(aggregate_id=order.pk).count() == 1
    assert Order.objects.filter(tenant_id="tenant-1").count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(180)
def test_a_member_pages_filters_and_switches_tenant_in_the_browser(browser, live_server) -> None:
    # given
    tenant_user_save(
        username="bob", password="cedar-quartz-5820", tenants=["tenant-1", "tenant-2"], staff=False
    )
    closed = OrderFactory.create(tenant_id="tenant-1", closed=True)
    hidden = OrderFactory.create(tenant_id="tenant-3")
    order_id = str(closed.pk)
    base = live_server.url
    page = browser.new_page()
    page.set_default_timeout(15_000)
    log_in(page, base, "bob", "cedar-quartz-5820")

    # when two drafts are created and the list is paged two at a time
    for _ in range(2):
        page.goto(f"{base}/orders")
        page.click("#create-order")
        expect(page).to_have_url(re.compile(r"/orders/[0-9a-f-]{36}$"))
    page.goto(f"{base}/orders?limit=2")
    expect(page.locator("#order-links li")).to_have_count(2)
    page.click("#next-page")
    expect(page.locator("#order-links li")).to_have_count(1)
    shot(page, "06-second-page")
    page.goto(f"{base}/orders")
    page.select_option("#status-filter", "closed")
    page.click("#filter-form [type=submit]")
    expect(page.locator("#order-links li")).to_have_count(1)
    expect(page.locator("#order-links")).to_contain_text(order_id)

    # and switching tenant shows only tenant-2's (none), never another tenant's order
    page.select_option("#tenant-select", "tenant-2")
    expect(page.locator("#tenant-select")).to_have_value("tenant-2")
    expect(page.locator("#order-links")).to_contain_text("No orders.")
    shot(page, "07-tenant-2")
    response = page.goto(f"{base}/orders/{hidden.pk}")
    assert response is not None
    assert response.status == 404
    response = page.goto(f"{base}/orders/{order_id}")  # tenant-1's, seen as tenant-2
    assert response is not None
    assert response.status == 404


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(120)
def test_an_operator_inspects_orders_and_their_outbox_in_the_admin(browser, live_server) -> None:
    # given
    get_user_model().objects.create_superuser("ops", "ops@example.com", "ops-pass-123")
    order = OrderFactory.create(tenant_id="tenant-1", closed=True)
    event = OutboxEvent.objects.create(
        tenant_id="tenant-1",
        aggregate_type="order",
        aggregate_id=order.pk,
        event_type="orders.closed",
        payload={"orderId": str(order.pk), "tenantId": "tenant-1"},
    )
    page = browser.new_page()
    page.set_default_timeout(15_000)

    # when
    page.goto(f"{live_server.url}/admin/login/?next=/admin/orders/order/")
    page.fill("#id_username", "ops")
    page.fill("#id_password", "ops-pass-123")
    page.click("[type=submit]")
    page.fill("#searchbar", str(order.pk))
    page.press("#searchbar", "Enter")

    # then
    expect(page.locator("#result_list")).to_contain_text(str(order.pk))
    shot(page, "10-admin-orders")
    page.goto(f"{live_server.url}/admin/orders/order/{order.pk}/change/")
    expect(page.locator("body")).to_contain_text("orders.closed")
    page.goto(f"{live_server.url}/admin/outbox/outboxevent/?state=pending")
    expect(page.locator("#result_list")).to_contain_text(str(order.pk))
    page.goto(f"{live_server.url}/admin/outbox/outboxevent/{event.pk}/change/")
    expect(page.locator("body")).to_contain_text('"tenantId": "tenant-1"')
    shot(page, "11-admin-outbox-event")
