"""The orders app's own Prometheus metrics (served by orders_project.metrics)."""

from prometheus_client import Counter

OPTIMISTIC_LOCK_FAILURES = Counter(
    "orders_optimistic_lock_failures_total",
    "Writes refused because If-Match named a version that is no longer current (412).",
)
