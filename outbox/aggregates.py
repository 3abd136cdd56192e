"""The aggregate types whose events the outbox holds.

Each app that writes events names its aggregate types in its AppConfig.ready(), so the
outbox learns them without importing that app. The admin's search by aggregate id looks
in each: the aggregate index leads with the type.
"""

AGGREGATE_TYPES: set[str] = set()


def register_aggregate_type(aggregate_type: str) -> None:
    """Declare that events of `aggregate_type` are written to the outbox."""
    AGGREGATE_TYPES.add(aggregate_type)
