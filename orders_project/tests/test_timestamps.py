"""Instants on the wire: one spelling, whatever zone or precision the datetime has."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from orders_project.timestamps import WIRE_FORMAT, format_timestamp, parse_timestamp

INSTANTS = (
    datetime(2026, 11, 26, 6, 20, 0, 123456, tzinfo=UTC),
    datetime(2026, 11, 26, 6, 20, 0, tzinfo=UTC),  # no microseconds: still six digits
    datetime(2026, 11, 26, 8, 20, 0, 5, tzinfo=timezone(timedelta(hours=2))),
    datetime(1000, 1, 1, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
)


@pytest.mark.parametrize("instant", INSTANTS)
def test_an_instant_is_spelled_in_utc_with_microseconds_and_z(instant: datetime) -> None:
    # when
    text = format_timestamp(instant)

    # then: what strftime with the wire format says of the same instant in UTC
    assert text == instant.astimezone(UTC).strftime(WIRE_FORMAT)
    assert text.endswith("Z")
    assert len(text) == len("2026-11-26T06:20:00.123456Z")
    assert parse_timestamp(text) == instant


def test_a_zone_other_than_utc_is_converted_not_relabelled() -> None:
    # given: 08:20 at UTC+2
    instant = datetime(2026, 11, 26, 8, 20, tzinfo=timezone(timedelta(hours=2)))

    # when / then
    assert format_timestamp(instant) == "2026-11-26T06:20:00.000000Z"


@pytest.mark.parametrize("text", ["2026-11-26T06:20:00Z", "2026-11-26T06:20:00.123456+00:00", ""])
def test_anything_but_the_wire_spelling_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_timestamp(text)
