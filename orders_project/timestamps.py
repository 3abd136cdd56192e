"""One spelling of instants on the wire: UTC, ISO 8601, microseconds, `Z`."""

from datetime import UTC, datetime

WIRE_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def format_timestamp(value: datetime) -> str:
    """Render an aware datetime as e.g. 2026-11-26T06:20:00.123456Z, as the API's
    serializers do (DRF's DATETIME_FORMAT is WIRE_FORMAT)."""
    return value.astimezone(UTC).strftime(WIRE_FORMAT)


def parse_timestamp(value: str) -> datetime:
    """Inverse of format_timestamp; raises ValueError on anything else."""
    return datetime.strptime(value, WIRE_FORMAT).replace(tzinfo=UTC)
