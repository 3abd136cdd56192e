"""Every admin page an operator opens reads a bounded number of rows, through an index.

The tables get tens of thousands of rows (more than the paginator ever counts), then each
page's real queries are captured and run again under EXPLAIN ANALYZE: no sequential scan
of orders, outbox or idempotency_keys, and no plan node touching more rows than the
paginator's limit, so no page counts, sorts or DISTINCTs a whole table. That holds at ten
million rows as it does here; docs/BENCHMARKS.md has the timings at that size.
"""

from collections.abc import Iterator
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from idempotency.models import IdempotencyKey
from orders.models import Order
from orders.seeding import SeedPlan, seed_idempotency_keys, seed_orders
from orders_project.large_admin import CappedCountPaginator
from orders_project.tests.plans import (
    executed_plan,
    large_table_queries,
    plan_problems,
    planned,
    seq_scans,
)
from outbox.models import OutboxEvent
from outbox.tests.factories import OutboxEventFactory

pytestmark = pytest.mark.django_db

# Many small tenants, as in production: one tenant's rows are a sliver of each table.
PLAN = SeedPlan(tenants=500, orders=50_000)
KEYS = 30_000
# The paginator's limit scaled to these tables as 10,000 is to ten million rows: the
# planner then weighs an index against a scan as it does at that size. Every table has
# many times more rows than a node may read, so counting or sorting one fails the check.
COUNT_LIMIT = 500
# A filter matching a third of the rows walks three times the limit: a bounded walk.
ROW_LIMIT = 4 * (COUNT_LIMIT + 1)


@pytest.fixture
def large_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(CappedCountPaginator, "limit", COUNT_LIMIT)
    seed_orders(PLAN, batch_size=10_000)
    seed_idempotency_keys(PLAN, count=KEYS, ttl=timedelta(days=1), batch_size=10_000)
    OutboxEventFactory.create_batch(3, tenant_id="tenant-7", dead=True)
    OutboxEventFactory.create_batch(3, tenant_id="tenant-7")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE orders, outbox, idempotency_keys")


def pages() -> Iterator[tuple[str, dict[str, str], str]]:
    """(path, query, text the page must show) for every page an operator opens."""
    newest = Order.objects.latest("created_at")
    order = Order.objects.filter(tenant_id="tenant-3", status="closed").latest("created_at")
    event = OutboxEvent.objects.get(aggregate_id=order.pk)
    dead = OutboxEvent.objects.filter(dead_at__isnull=False).first()
    assert dead is not None
    key = IdempotencyKey.objects.filter(tenant_id="tenant-5").latest("expires_at")
    # What the "Past 7 days" link of the created_at filter sends.
    today = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    week_ago, tomorrow = today - timedelta(days=7), today + timedelta(days=1)

    orders = "/admin/orders/order/"
    yield orders, {}, str(newest.pk)
    yield orders, {}, f"more than {COUNT_LIMIT} orders"
    yield orders, {"p": "3"}, f"more than {COUNT_LIMIT} orders"
    yield orders, {"tenant_id": "tenant-3"}, str(order.pk)
    yield orders, {"status__exact": "closed"}, f"more than {COUNT_LIMIT} orders"
    yield orders, {"tenant_id": "tenant-3", "status__exact": "closed"}, str(order.pk)
    yield (
        orders,
        {"created_at__gte": str(week_ago), "created_at__lt": str(tomorrow)},
        str(newest.pk),
    )
    yield orders, {"q": str(order.pk)}, "1 order"
    yield orders, {"q": "tenant-3"}, str(order.pk)
    yield f"{orders}{order.pk}/change/", {}, f"/admin/outbox/outboxevent/{event.pk}/change/"

    events = "/admin/outbox/outboxevent/"
    yield events, {}, f"more than {COUNT_LIMIT} outbox events"
    yield events, {"state": "pending"}, "3 outbox events"
    yield events, {"state": "published"}, f"more than {COUNT_LIMIT} outbox events"
    yield events, {"state": "dead"}, str(dead.aggregate_id)
    yield events, {"tenant_id": "tenant-3"}, str(order.pk)
    yield events, {"tenant_id": "tenant-7", "state": "dead"}, str(dead.aggregate_id)
    yield events, {"q": str(event.pk)}, str(order.pk)
    yield events, {"q": str(order.pk)}, "1 outbox event"
    yield events, {"q": "tenant-3"}, str(order.pk)
    yield f"{events}{event.pk}/change/", {}, str(order.pk)

    keys = "/admin/idempotency/idempotencykey/"
    yield keys, {}, f"more than {COUNT_LIMIT} idempotency keys"
    yield keys, {"expired": "yes"}, f"more than {COUNT_LIMIT} idempotency keys"
    yield keys, {"expired": "no"}, f"more than {COUNT_LIMIT} idempotency keys"
    yield keys, {"tenant_id": "tenant-5"}, key.key
    yield keys, {"q": f"tenant-5/{key.key}"}, "1 idempotency key"
    yield keys, {"tenant_id": "tenant-5", "q": key.key}, "1 idempotency key"
    yield keys, {"q": "tenant-5"}, key.key
    yield f"{keys}{key.pk}/change/", {}, key.key


def test_every_admin_page_reads_its_rows_through_an_index(
    admin_client: Client, large_tables: None
) -> None:
    problems: list[str] = []
    for path, query, shown in pages():
        # when
        with CaptureQueriesContext(connection) as captured:
            page = admin_client.get(path, query)

        # then: the page shows what was asked for
        label = f"{path}?{'&'.join(f'{k}={v}' for k, v in query.items())}"
        assert page.status_code == 200, label
        assert shown in page.text, label
        # and every query on a large table reads a bounded number of rows through an index
        for sql in large_table_queries(captured.captured_queries):
            found = plan_problems(executed_plan(sql), row_limit=ROW_LIMIT)
            problems.extend(f"{label}: {p}\n    {sql}" for p in found)

    assert not problems, "\n".join(problems)


def test_the_check_catches_a_full_count() -> None:
    # given: the query Django's own paginator sends, on a table larger than the limit
    seed_orders(PLAN, batch_size=10_000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE orders")

    # when
    problems = plan_problems(executed_plan('SELECT COUNT(*) FROM "orders"'), row_limit=ROW_LIMIT)

    # then
    assert problems


def test_the_ops_commands_read_the_large_tables_through_indexes(large_tables: None) -> None:
    # given: dead events to requeue, published ones to prune, expired keys to purge
    OutboxEvent.objects.filter(tenant_id="tenant-9").update(
        published_at=None, dead_at=timezone.now(), attempts=10
    )
    # Batches as small beside these tables as the default 1,000 is beside millions.
    commands = [
        ("outbox_status",),
        ("outbox_requeue", "--all", "--batch-size=100", "--no-progress"),
        ("outbox_prune", "--older-than=80d", "--batch-size=100", "--no-progress"),
        ("purge_idempotency_keys", "--batch-size=100", "--no-progress"),
    ]
    for command in commands:
        # when
        with CaptureQueriesContext(connection) as captured:
            call_command(*command, stdout=StringIO(), stderr=StringIO())

        # then: none of their statements scans a large table
        statements = list(
            large_table_queries(captured.captured_queries, verbs=("SELECT", "UPDATE", "DELETE"))
        )
        assert statements, command
        for sql in statements:
            assert not seq_scans(planned(sql)), f"{command}: {sql}"
