"""OutboxRepository: writes events for one tenant; it never commits."""

import uuid
from typing import Any

from outbox.models import OutboxEvent


class OutboxRepository:
    """The outbox rows of one tenant."""

    def __init__(self, *, tenant_id: str) -> None:
        self.tenant_id = tenant_id

    def add(
        self,
        *,
        aggregate_type: str,
        aggregate_id: uuid.UUID,
        event_type: str,
        payload: dict[str, Any],
    ) -> OutboxEvent:
        """Insert one pending event in the caller's transaction."""
        return OutboxEvent.objects.create(
            tenant_id=self.tenant_id,
            aggregate_type=aggregate_type,
            aggregate_id=aggregate_id,
            event_type=event_type,
            payload=payload,
        )

    def for_aggregate(self, aggregate_type: str, aggregate_id: uuid.UUID) -> list[OutboxEvent]:
        """The aggregate's events in the order they were written."""
        return list(
            OutboxEvent.objects.filter(
                tenant_id=self.tenant_id,
                aggregate_type=aggregate_type,
                aggregate_id=aggregate_id,
            ).order_by("sequence")
        )
