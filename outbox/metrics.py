"""Outbox backlog gauges, read from the database at each scrape of /metrics."""

import logging
from collections.abc import Iterator

from django.db import DatabaseError
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from outbox.services import outbox_status

logger = logging.getLogger(__name__)


class OutboxCollector(Collector):
    """outbox pending and dead counts and the age of the oldest pending event."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            status = outbox_status()
        except DatabaseError as error:
            # A scrape must not fail because the database does; /readyz reports that.
            logger.warning("outbox metrics unavailable: %s", error)
            return
        age = status.oldest_pending_age(timezone.now()) or 0.0
        yield GaugeMetricFamily(
            "orders_outbox_pending_events", "Events not yet published.", value=status.pending
        )
        yield GaugeMetricFamily(
            "orders_outbox_dead_events",
            "Events parked after too many attempts.",
            value=status.dead,
        )
        yield GaugeMetricFamily(
            "orders_outbox_oldest_pending_age_seconds",
            "Age of the oldest unpublished event; 0 when none is pending.",
            value=age,
        )
