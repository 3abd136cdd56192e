"""One spelling of instants on the wire: UTC, ISO 8601, microseconds, `Z`."""

from datetime import UTC, datetime

WIRE_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def format_timestamp(value: datetime) -> str:
    """Render an aware datetime as e.g. 2026-11-26T06:20:00.123456Z.

    The same text as `strftime(WIRE_FORMAT)` for every year from 1000 on, in half the
    time (a list page formats up to sixty of these); in UTC isoformat ends in +00:00.
    """
    return value.astimezone(UTC).isoformat(timespec="microseconds").removesuffix("+00:00") + "Z"


def parse_timestamp(value: str) -> datetime:
    """Inverse of format_timestamp; raises ValueError on anything else."""
    return datetime.strptime(value, WIRE_FORMAT).replace(tzinfo=UTC)
