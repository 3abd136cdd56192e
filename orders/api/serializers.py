"""Wire shapes of the orders API: camelCase, every field always present."""

import re
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from orders.models import MAX_TOTAL_CENTS, Order
from orders_project.timestamps import format_timestamp


class TimestampField(serializers.DateTimeField):
    """An instant as the contract spells it: UTC, microseconds, `Z`."""

    def to_representation(self, value: datetime) -> str:
        # Measured (docs/DECISIONS.md): format_timestamp writes DATETIME_FORMAT's text in
        # half of DRF's time, and a list page formats up to sixty.
        return format_timestamp(value)


class OrderOutputSerializer(serializers.Serializer):
    """An order as every endpoint returns it."""

    id = serializers.UUIDField()
    tenantId = serializers.CharField(source="tenant_id")
    status = serializers.ChoiceField(choices=Order.Status.choices)
    version = serializers.IntegerField(min_value=1)
    totalCents = serializers.IntegerField(source="total_cents", allow_null=True)
    createdAt = TimestampField(source="created_at")
    updatedAt = TimestampField(source="updated_at")
    closedAt = TimestampField(source="closed_at", allow_null=True)

    def to_representation(self, instance: Order) -> dict[str, Any]:
        # Measured (docs/DECISIONS.md): every source here is a plain attribute, so DRF's
        # general loop (dotted sources, callables, SkipField) is not needed.
        rendered: dict[str, Any] = {}
        for name, source, field in self.plain_fields:
            value = getattr(instance, source)
            rendered[name] = None if value is None else field.to_representation(value)
        return rendered

    @cached_property
    def plain_fields(self) -> list[tuple[str, str, serializers.Field]]:
        """(name, source attribute, field) of each field, listed once per instance."""
        return [(name, field.source or name, field) for name, field in self.fields.items()]


# One object per response, though the list action returns it: not an array of pages.
@extend_schema_serializer(many=False)
class OrderPageOutputSerializer(serializers.Serializer):
    """One page of orders, newest first, and the cursors of the pages on either side."""

    items = OrderOutputSerializer(many=True)
    nextCursor = serializers.CharField(
        allow_null=True,
        help_text="The page of the orders just older than this page's last item; "
        "null when no older order matches.",
    )
    prevCursor = serializers.CharField(
        allow_null=True,
        help_text="The page of the orders just newer than this page's first item (on an "
        "empty page reached by a cursor, than that cursor's position: poll it for new "
        "orders); null only on an empty page asked for without a cursor.",
    )


class StrictIntegerField(serializers.IntegerField):
    """An integer as JSON spells one: no strings, floats or booleans."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class OrderCreateInputSerializer(serializers.Serializer):
    """POST /orders takes an object with no fields today; unknown fields are ignored."""


class OrderConfirmInputSerializer(serializers.Serializer):
    """The total that confirming fixes."""

    totalCents = StrictIntegerField(min_value=0, max_value=MAX_TOTAL_CENTS)


class PresentIntegerField(serializers.IntegerField):
    """An integer query parameter: ASCII digits only, and `limit=` (present, empty) is invalid.

    DRF reads an empty form value of an optional field as absent, and would use the
    default; the schema says an integer, so an empty one is refused. DRF's own reading
    also takes `5.0`, ` 5`, `+5` and other scripts' digits (`int()`): one spelling each.
    """

    def get_value(self, dictionary: Any) -> Any:
        if dictionary.get(self.field_name) == "":
            return ""
        return super().get_value(dictionary)

    def to_internal_value(self, data: Any) -> int:
        if not (isinstance(data, str) and data.isascii() and data.isdigit()):
            self.fail("invalid")
        return super().to_internal_value(data)


# RFC 3339's date-time (section 5.6), whose zone is required; "T" and "Z" in either case.
_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})", re.ASCII
)


class ZonedTimestampField(serializers.DateTimeField):
    """An RFC 3339 instant with its zone (`Z` or an offset) as a query parameter, in UTC.

    DRF would read a timestamp without a zone in the server's time zone, and an empty
    one as absent: both are refused, since the schema says a date-time.
    """

    default_error_messages = {
        "invalid": "Enter an RFC 3339 timestamp with a zone, e.g. 2026-01-01T00:00:00Z "
        "(a + in a query string is sent as %2B).",
    }

    def get_value(self, dictionary: Any) -> Any:
        if dictionary.get(self.field_name) == "":
            return ""
        return super().get_value(dictionary)

    def to_internal_value(self, value: Any) -> datetime:
        if not isinstance(value, str) or not _RFC3339.fullmatch(value):
            self.fail("invalid")
        try:
            return datetime.fromisoformat(value.upper()).astimezone(UTC)
        except (ValueError, OverflowError):  # day 31 of a short month, or past year 9999
            self.fail("invalid")


class OrderListQuerySerializer(serializers.Serializer):
    """Query parameters of GET /orders."""

    limit = PresentIntegerField(min_value=1, max_value=100, default=20)
    cursor = serializers.CharField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        help_text="A nextCursor or prevCursor of an earlier page, with the same filters.",
    )
    status = serializers.ChoiceField(
        choices=Order.Status.choices, required=False, allow_blank=True
    )
    createdFrom = ZonedTimestampField(
        required=False, help_text="Only orders created at or after this instant (RFC 3339)."
    )
    createdBefore = ZonedTimestampField(
        required=False, help_text="Only orders created before this instant (RFC 3339)."
    )
