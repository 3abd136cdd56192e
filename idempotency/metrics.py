"""The idempotency app's Prometheus metrics (served by orders_project.metrics)."""

from prometheus_client import Counter

IDEMPOTENCY_REPLAYS = Counter(
    "orders_idempotency_replays_total",
    "Requests answered with the stored response of an earlier request with the same key.",
)
IDEMPOTENCY_CONFLICTS = Counter(
    "orders_idempotency_conflicts_total",
    "Keyed requests refused: `reused` (422, other request) or `in_use` (409, in flight).",
    ["reason"],
)
