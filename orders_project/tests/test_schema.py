"""The storage contract (CONTRACT.md, "Storage"): the tables, columns and indexes that
clients, tools and the Debezium connector rely on, read from the migrated database."""

import json
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

pytestmark = pytest.mark.django_db

CONNECTOR = Path(settings.BASE_DIR) / "deploy" / "debezium" / "outbox-connector.json"


def _columns(table: str) -> dict[str, tuple[str, bool]]:
    """column -> (data type, nullable) from information_schema."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name, data_type, is_nullable = 'YES' FROM information_schema.columns"
            " WHERE table_schema = 'public' AND table_name = %s",
            [table],
        )
        return {name: (kind, nullable) for name, kind, nullable in cursor.fetchall()}


def _index_definitions(table: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = %s", [table])
        return [row[0] for row in cursor.fetchall()]


def _primary_key(table: str) -> list[str]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    [key] = [c["columns"] for c in constraints.values() if c["primary_key"]]
    return list(key)


def test_orders_table() -> None:
    columns = _columns("orders")

    assert {
        "id", "tenant_id", "status", "version", "total_cents", "created_at", "updated_at",
        "closed_at",
    } <= set(columns)  # fmt: skip
    assert columns["id"][0] == "uuid"
    assert _primary_key("orders") == ["id"]
    assert columns["total_cents"][1] is True
    assert columns["closed_at"][1] is True
    indexes = _index_definitions("orders")
    assert any("(tenant_id, created_at DESC, id DESC)" in d for d in indexes), indexes
    assert any("(tenant_id, status" in d for d in indexes), indexes


def test_outbox_table() -> None:
    columns = _columns("outbox")

    assert {
        "id", "tenant_id", "aggregate_type", "aggregate_id", "event_type", "payload",
        "created_at", "published_at", "attempts", "last_error",
    } <= set(columns)  # fmt: skip
    assert columns["id"][0] == "uuid"
    assert _primary_key("outbox") == ["id"]
    assert columns["payload"][0] == "jsonb"
    assert columns["published_at"][1] is True


def test_idempotency_keys_table() -> None:
    columns = _columns("idempotency_keys")

    assert {
        "tenant_id", "key", "fingerprint", "response_status", "response_headers",
        "response_body", "created_at", "expires_at",
    } <= set(columns)  # fmt: skip
    assert any(
        d.startswith("CREATE UNIQUE INDEX") and d.endswith("(tenant_id, key)")
        for d in _index_definitions("idempotency_keys")
    )


def test_the_debezium_connector_names_only_columns_the_outbox_has() -> None:
    # given: the documented connector config (deploy/debezium, README "Outbox relay")
    config = json.loads(CONNECTOR.read_text())["config"]
    router = "transforms.outbox."

    # when: every column the outbox event router reads
    named = [config[router + f"table.field.event.{part}"] for part in ("id", "key", "type")]
    named += [config[router + "table.field.event.payload"], config[router + "route.by.field"]]
    named += [
        placement.split(":", 1)[0]
        for placement in config[router + "table.fields.additional.placement"].split(",")
    ]

    # then: it watches the outbox table, and each of those columns exists there
    assert config["table.include.list"] == "public.outbox"
    assert set(named) <= set(_columns("outbox")), set(named) - set(_columns("outbox"))
