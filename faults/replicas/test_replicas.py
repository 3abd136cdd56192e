"""The fault suite's storms, races, SIGKILLed workers, database restarts and mixed
workload, against two replicas and two relays through one PgBouncer (conftest.py):
one order per key across both replicas, one winner per state change, no acknowledged
write lost; then every event the run wrote is published."""

from __future__ import annotations

import time

import psycopg

from faults.conftest import RUN_ID
from faults.replicas.conftest import Relay
from faults.test_concurrency import (
    test_confirm_and_close_races_have_one_winner,
    test_identical_creates_make_one_order_per_key,
)
from faults.test_crashes import (
    test_database_restart_answers_503_and_recovers,
    test_killed_workers_leave_no_half_written_order,
)
from faults.test_workload import test_mixed_workload_matches_the_database

__all__ = [
    "test_confirm_and_close_races_have_one_winner",
    "test_database_restart_answers_503_and_recovers",
    "test_identical_creates_make_one_order_per_key",
    "test_killed_workers_leave_no_half_written_order",
    "test_mixed_workload_matches_the_database",
]

PUBLISH_DEADLINE_S = 60


def test_every_event_is_published_by_the_relays(
    relays: list[Relay], sql: psycopg.Connection
) -> None:
    # given: the events the tests above wrote (closes), in this run's tenants
    def pending() -> list[str]:
        rows = sql.execute(
            "SELECT id::text FROM outbox WHERE tenant_id LIKE %s AND published_at IS NULL",
            [f"f{RUN_ID}-%"],
        ).fetchall()
        return [event_id for (event_id,) in rows]

    # when: the relays have had time to drain them (they ran all along)
    deadline = time.monotonic() + PUBLISH_DEADLINE_S
    while pending() and time.monotonic() < deadline:
        time.sleep(0.5)

    # then: none is left, none is dead, and each was printed by a relay
    assert pending() == []
    rows = sql.execute(
        "SELECT id::text, dead_at FROM outbox WHERE tenant_id LIKE %s", [f"f{RUN_ID}-%"]
    ).fetchall()
    assert rows, "the tests above closed no order: nothing was proved"
    assert [event_id for event_id, dead_at in rows if dead_at is not None] == []
    printed = "".join(relay.published_text() for relay in relays)
    assert [event_id for event_id, _ in rows if event_id not in printed] == []
    shares = {r.name: sum(e in r.published_text() for e, _ in rows) for r in relays}
    print(f"events printed per relay: {shares}")  # noqa: T201 (shown with -s)
