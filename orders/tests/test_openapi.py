"""The OpenAPI schema of the lists, the 412 and the key retention, as clients read it."""

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def component(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    *_, name = node["$ref"].split("/")
    found: dict[str, Any] = schema["components"]["schemas"][name]
    return found


def test_the_schema_validates_without_a_warning(tmp_path: Path) -> None:
    # when / then: drf-spectacular's own validation, warnings as errors
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", tmp_path / "s.yaml")


def test_the_list_documents_ranges_both_cursors_and_its_links(schema: dict[str, Any]) -> None:
    # given
    operation = schema["paths"]["/orders"]["get"]

    # when
    query = {p["name"]: p for p in operation["parameters"] if p["in"] == "query"}
    ok = operation["responses"]["200"]
    page = component(schema, ok["content"]["application/json"]["schema"])

    # then
    assert set(query) == {"limit", "cursor", "status", "createdFrom", "createdBefore"}
    for name in ("createdFrom", "createdBefore"):
        assert query[name]["schema"] == {"type": "string", "format": "date-time"}
        assert "RFC 3339" in query[name]["description"]
    assert set(page["required"]) == {"items", "nextCursor", "prevCursor"}
    assert page["properties"]["prevCursor"]["nullable"] is True
    assert 'rel="prev"' in ok["headers"]["Link"]["description"]


@pytest.mark.parametrize(
    ("path", "method"), [("/orders/{id}/confirm", "patch"), ("/orders/{id}/close", "post")]
)
def test_a_412_documents_the_current_version_and_etag(
    schema: dict[str, Any], path: str, method: str
) -> None:
    # when
    stale = schema["paths"][path][method]["responses"]["412"]
    body = component(schema, stale["content"]["application/problem+json"]["schema"])

    # then
    assert "currentVersion" in body["required"]
    assert body["properties"]["currentVersion"]["type"] == "integer"
    assert "ETag" in stale["headers"]


def test_the_key_retention_is_published_from_its_setting(schema: dict[str, Any]) -> None:
    # given
    hours = settings.IDEMPOTENCY_KEY_TTL_SECONDS // 3600
    retention = f"Keys are kept {hours} hours"

    # when
    create = schema["paths"]["/orders"]["post"]
    (key,) = [p for p in create["parameters"] if p["name"] == "Idempotency-Key"]
    confirm = schema["paths"]["/orders/{id}/confirm"]["patch"]
    (optional_key,) = [p for p in confirm["parameters"] if p["name"] == "Idempotency-Key"]

    # then: in the header's description and in the problem types' documentation
    assert retention in key["description"]
    assert retention in optional_key["description"]
    assert retention in create["responses"]["422"]["description"]
    assert retention in create["responses"]["400"]["description"]
