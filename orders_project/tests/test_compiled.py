"""CompiledQuery: the ORM's SQL, compiled once, giving what the QuerySet gives."""

import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, connection, transaction
from django.db.models import F, signals
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from idempotency.models import IdempotencyKey
from orders.models import Order, TenantMembership
from orders.tests.factories import (
    DEFAULT_TOTAL_CENTS,
    ClosedOrderFactory,
    ConfirmedOrderFactory,
    OrderFactory,
)
from orders_project.db.compiled import CompiledInsert, CompiledQuery, CompiledUpdate
from orders_project.tests import child_database_url
from outbox.models import OutboxEvent

_TENANT = "\x00tenant"
_ID = uuid.UUID(int=1)


def _by_tenant_and_id(tenant_id: str, order_id: uuid.UUID):
    return Order.objects.filter(tenant_id=tenant_id, pk=order_id).order_by("pk")[:1]


def _field_values(order: Order) -> dict[str, object]:
    return {field.attname: getattr(order, field.attname) for field in Order._meta.fields}


@pytest.mark.django_db
def test_runs_the_sql_the_queryset_would_send() -> None:
    # given
    order = ConfirmedOrderFactory.create(tenant_id="t-1")
    query = CompiledQuery(_by_tenant_and_id, _TENANT, _ID)
    with CaptureQueriesContext(connection) as orm:
        list(_by_tenant_and_id("t-1", order.pk))

    # when
    with CaptureQueriesContext(connection) as compiled:
        query.fetch("t-1", order.pk)

    # then
    assert [q["sql"] for q in compiled] == [q["sql"] for q in orm]


@pytest.mark.django_db
def test_rows_are_model_instances_equal_to_the_querysets() -> None:
    # given
    order = ClosedOrderFactory.create(tenant_id="t-1")
    query = CompiledQuery(_by_tenant_and_id, _TENANT, _ID)

    # when
    [found] = query.fetch("t-1", order.pk)

    # then
    [expected] = list(_by_tenant_and_id("t-1", order.pk))
    assert _field_values(found) == _field_values(expected)
    assert found._state.adding is False
    assert found._state.db == "default"


@pytest.mark.django_db
def test_each_call_uses_its_own_values() -> None:
    # given
    mine = OrderFactory.create(tenant_id="t-1")
    theirs = OrderFactory.create(tenant_id="t-2")
    query = CompiledQuery(_by_tenant_and_id, _TENANT, _ID)

    # when / then
    assert [o.pk for o in query.fetch("t-1", mine.pk)] == [mine.pk]
    assert query.fetch("t-1", theirs.pk) == []
    assert [o.pk for o in query.fetch("t-2", theirs.pk)] == [theirs.pk]


@pytest.mark.django_db
def test_values_rows_go_through_the_fields_converters() -> None:
    # given: jsonb and bytea come back as the fields decode them
    now = timezone.now()
    IdempotencyKey.objects.create(
        tenant_id="t-1",
        key="k",
        fingerprint="f",
        response_status=201,
        response_headers={"Location": "/orders/1"},
        response_body=b'{"id": 1}',
        created_at=now,
        expires_at=now + timedelta(hours=1),
    )
    query = CompiledQuery(
        lambda tenant_id, key, at: IdempotencyKey.objects.filter(
            tenant_id=tenant_id, key=key, expires_at__gt=at
        ).values_list("response_status", "response_headers", "response_body"),
        _TENANT,
        "\x00key",
        datetime(1970, 1, 2, tzinfo=UTC),
    )

    # when
    [row] = query.fetch("t-1", "k", now)

    # then
    [expected] = IdempotencyKey.objects.filter(tenant_id="t-1", key="k").values_list(
        "response_status", "response_headers", "response_body"
    )
    assert row == expected
    assert row[1] == {"Location": "/orders/1"}
    assert query.fetch("t-1", "k", now + timedelta(hours=2)) == []


@pytest.mark.django_db
def test_flat_values() -> None:
    OrderFactory.create(tenant_id="t-1")
    query = CompiledQuery(
        lambda tenant_id: Order.objects.filter(tenant_id=tenant_id).values_list(
            "tenant_id", flat=True
        ),
        _TENANT,
    )
    assert query.fetch("t-1") == ["t-1"]


@pytest.mark.django_db
def test_refuses_a_lookup_that_changes_its_value() -> None:
    # `__contains` sends '%value%', which no call-time value could be put in for.
    query = CompiledQuery(
        lambda tenant_id: Order.objects.filter(tenant_id__contains=tenant_id), "x"
    )
    with pytest.raises(ImproperlyConfigured, match="not exactly one of the placeholders"):
        query.fetch("t")


@pytest.mark.django_db
def test_refuses_a_placeholder_the_sql_does_not_use() -> None:
    query = CompiledQuery(
        lambda tenant_id, unused: Order.objects.filter(tenant_id=tenant_id), "a", "b"
    )
    with pytest.raises(ImproperlyConfigured, match="do not reach the SQL"):
        query.fetch("t", "u")


@pytest.mark.django_db
def test_refuses_placeholders_that_could_be_confused() -> None:
    with pytest.raises(ImproperlyConfigured, match="distinct"):
        CompiledQuery(lambda a, b: Order.objects.filter(tenant_id=a, status=b), "same", "same")


@pytest.mark.django_db(transaction=True)
def test_locks_rows_only_inside_a_transaction() -> None:
    # given
    order = OrderFactory.create(tenant_id="t-1")
    query = CompiledQuery(
        lambda tenant_id: Order.objects.select_for_update(of=("self",)).filter(
            tenant_id=tenant_id
        ),
        _TENANT,
    )

    # when / then: inside a transaction the rows come back, locked against others
    with transaction.atomic():
        assert [o.pk for o in query.fetch("t-1")] == [order.pk]
        with (
            psycopg.connect(child_database_url(), autocommit=True) as other,
            pytest.raises(psycopg.errors.LockNotAvailable),
        ):
            other.execute("SELECT 1 FROM orders WHERE id = %s FOR UPDATE NOWAIT", [order.pk])

    # and outside one it refuses, as Django does, instead of a lock that ends at once
    with pytest.raises(TransactionManagementError, match="outside of a transaction"):
        query.fetch("t-1")


def _guarded(tenant_id: str, order_id: uuid.UUID, version: int, step: int, total: int):
    orders = Order.objects.filter(tenant_id=tenant_id, pk=order_id, version=version)
    return orders, {"version": F("version") + step, "total_cents": total}


_GUARDED = (_TENANT, _ID, 1_000_001, 1_000_002, 1_000_003)


@pytest.mark.django_db
def test_update_sends_the_sql_queryset_update_would() -> None:
    # given
    order = ConfirmedOrderFactory.create(tenant_id="t-1")
    update = CompiledUpdate(_guarded, *_GUARDED)
    with transaction.atomic(), CaptureQueriesContext(connection) as orm:
        queryset, changes = _guarded("t-1", order.pk, 2, 1, 7)
        queryset.update(**changes)
        transaction.set_rollback(True)

    # when
    with CaptureQueriesContext(connection) as compiled:
        changed = update.execute("t-1", order.pk, 2, 1, 7)

    # then
    assert changed == 1
    assert [q["sql"] for q in compiled] == [q["sql"] for q in orm]
    order.refresh_from_db()
    assert (order.version, order.total_cents) == (3, 7)


@pytest.mark.django_db
def test_update_changes_nothing_when_the_guard_does_not_match() -> None:
    order = ConfirmedOrderFactory.create(tenant_id="t-1")
    update = CompiledUpdate(_guarded, *_GUARDED)

    assert update.execute("t-1", order.pk, 1, 1, 7) == 0  # stale version
    assert update.execute("t-2", order.pk, 2, 1, 7) == 0  # another tenant
    order.refresh_from_db()
    assert (order.version, order.total_cents) == (2, DEFAULT_TOTAL_CENTS)


@pytest.mark.django_db
def test_update_refuses_a_value_the_field_adapts() -> None:
    # A JSONField's value goes out wrapped in a JSON adapter: no call-time value fits.
    update = CompiledUpdate(
        lambda tenant_id, headers: (
            IdempotencyKey.objects.filter(tenant_id=tenant_id),
            {"response_headers": headers},
        ),
        _TENANT,
        {"x": "y"},
    )
    with pytest.raises(ImproperlyConfigured, match="not exactly one of the placeholders"):
        update.execute("t-1", {"a": "b"})


@pytest.mark.django_db
def test_refuses_placeholders_that_make_the_query_empty() -> None:
    # The ORM answers `version = -1` on a positive field with "nothing", without SQL.
    update = CompiledUpdate(
        lambda version: (Order.objects.filter(version=version), {"total_cents": 1}), -1
    )
    with pytest.raises(ImproperlyConfigured, match="make the query empty"):
        update.execute(3)


def _unsaved_order(**values: object) -> Order:
    return Order(tenant_id="t-1", total_cents=1234, **values)


@pytest.mark.django_db
def test_insert_sends_the_sql_save_would() -> None:
    # given: the same new order saved by the ORM, then undone
    order = _unsaved_order(
        status=Order.Status.CLOSED, closed_at=datetime(2031, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    )
    with transaction.atomic(), CaptureQueriesContext(connection) as orm:
        order.save(force_insert=True)
        transaction.set_rollback(True)
    order._state.adding, order._state.db = True, None

    # when
    with CaptureQueriesContext(connection) as compiled:
        CompiledInsert(Order).insert(order)

    # then: the same statement, the same values, and an instance that is now saved
    assert [q["sql"] for q in compiled] == [q["sql"] for q in orm]
    assert (order._state.adding, order._state.db) == (False, "default")
    stored = Order.objects.get(pk=order.pk)
    assert [getattr(stored, f.attname) for f in Order._meta.concrete_fields] == [
        getattr(order, f.attname) for f in Order._meta.concrete_fields
    ]


def _unsaved_event(**values: object) -> OutboxEvent:
    return OutboxEvent(
        tenant_id="t-1",
        aggregate_type="order",
        aggregate_id=_ID,
        event_type="orders.closed",
        payload={"orderId": str(_ID), "totalCents": 1234, "note": "é \" '"},
        **values,
    )


@pytest.mark.django_db
def test_insert_reads_back_what_the_database_fills_in_as_save_would() -> None:
    # given: the same new event saved by the ORM, then undone
    event = _unsaved_event()
    with transaction.atomic(), CaptureQueriesContext(connection) as orm:
        event.save(force_insert=True)
        transaction.set_rollback(True)
    saved_sequence = event.sequence
    event = _unsaved_event(id=event.pk, created_at=event.created_at)

    # when
    with CaptureQueriesContext(connection) as compiled:
        CompiledInsert(OutboxEvent).insert(event)

    # then: the same statement (sequence left to the database, read back with
    # RETURNING); the number the database drew is on the instance, as save() puts it
    assert [q["sql"] for q in compiled] == [q["sql"] for q in orm]
    assert "RETURNING" in compiled[0]["sql"]
    assert isinstance(event.sequence, int)
    assert event.sequence > saved_sequence
    stored = OutboxEvent.objects.get(pk=event.pk)
    assert [getattr(stored, f.attname) for f in OutboxEvent._meta.concrete_fields] == [
        getattr(event, f.attname) for f in OutboxEvent._meta.concrete_fields
    ]
    # and a second event draws the next number
    later = _unsaved_event()
    CompiledInsert(OutboxEvent).insert(later)
    assert later.sequence > event.sequence


@pytest.mark.django_db
def test_a_failed_insert_dooms_the_transaction_as_save_would() -> None:
    # given: an order that already exists
    order = OrderFactory.create(tenant_id="t-1")
    again = _unsaved_order(id=order.pk)

    # when / then
    with transaction.atomic():
        with pytest.raises(IntegrityError):
            CompiledInsert(Order).insert(again)
        assert transaction.get_rollback() is True


@pytest.mark.django_db
def test_insert_refuses_what_save_would_do_besides() -> None:
    # a receiver of the save signals would be skipped
    def receiver(**kwargs: object) -> None:
        pass

    signals.post_save.connect(receiver, sender=Order)
    try:
        with pytest.raises(ImproperlyConfigured, match="save signals"):
            CompiledInsert(Order).insert(_unsaved_order())
    finally:
        signals.post_save.disconnect(receiver, sender=Order)
    # an expression for a value
    with pytest.raises(ImproperlyConfigured, match="expression"):
        CompiledInsert(Order).insert(_unsaved_order(version=F("version") + 1))
    # a value for a column the database fills in (save() would send it: other SQL)
    with pytest.raises(ImproperlyConfigured, match="filled in by the database"):
        CompiledInsert(OutboxEvent).insert(_unsaved_event(sequence=7))
    # a primary key the database increments (save() leaves it out, then reads it back)
    with pytest.raises(ImproperlyConfigured, match="auto-incremented"):
        CompiledInsert(TenantMembership).insert(TenantMembership(user_id=1, tenant_id="t-1"))
    assert not Order.objects.exists()
    assert not OutboxEvent.objects.exists()
    assert not TenantMembership.objects.exists()
