"""Concurrent writers of one order, racing real requests in PostgreSQL: exactly one wins.

Each thread has its own test Client and database connection, and the test database
is committed to (transaction=True), so the row locks and guarded UPDATEs really race.
"""

from collections import Counter
from typing import Any

import pytest

from orders.models import Order
from orders.tests.factories import ConfirmedOrderFactory, OrderFactory
from orders.tests.http import ClientFor, ClientResponse, Concurrently, close, confirm
from outbox.models import OutboxEvent

pytestmark = pytest.mark.django_db(transaction=True)

RACERS = 16


def outcome(response: ClientResponse) -> tuple[int, str | None]:
    """Status and, for errors, the problem code."""
    if response.status_code >= 400:
        return response.status_code, response.json()["code"]
    return response.status_code, None


def the_one_winner(responses: list[ClientResponse], loser: tuple[int, str]) -> dict[str, Any]:
    """Assert that one racer won and every other lost with `loser`; return the winner's body."""
    assert Counter(map(outcome, responses)) == {(200, None): 1, loser: RACERS - 1}
    (winner,) = (response.json() for response in responses if response.status_code == 200)
    return winner


@pytest.mark.parametrize(
    ("if_match", "loser"),
    [
        # Everyone names version 1: after the winner it is 2, so the rest are stale.
        ("1", (412, "stale_version")),
        # Any version: the rest pass the precondition and meet a confirmed order.
        ("*", (409, "invalid_state_transition")),
    ],
)
def test_concurrent_confirms_let_exactly_one_win(
    client_for: ClientFor,
    concurrently: Concurrently,
    if_match: str,
    loser: tuple[int, str],
) -> None:
    # given
    order = OrderFactory.create()

    def confirm_it(index: int) -> ClientResponse:
        return confirm(client_for("tenant-1"), order.pk, total=1000 + index, if_match=if_match)

    # when
    responses = concurrently(confirm_it, RACERS)

    # then
    winner = the_one_winner(responses, loser)
    stored = Order.objects.get(pk=order.pk)
    assert (stored.status, stored.version) == ("confirmed", 2)
    assert stored.total_cents == winner["totalCents"]
    assert winner["version"] == 2


@pytest.mark.parametrize(
    ("if_match", "losers"),
    [(None, (409, "invalid_state_transition")), ('"2"', (412, "stale_version"))],
    ids=["without-if-match", "if-match-2"],
)
def test_concurrent_closes_let_exactly_one_win_and_write_one_event(
    client_for: ClientFor,
    concurrently: Concurrently,
    if_match: str | None,
    losers: tuple[int, str],
) -> None:
    # given
    order = ConfirmedOrderFactory.create()

    def close_it(index: int) -> ClientResponse:
        return close(client_for("tenant-1"), order.pk, if_match=if_match)

    # when
    responses = concurrently(close_it, RACERS)

    # then
    winner = the_one_winner(responses, losers)
    stored = Order.objects.get(pk=order.pk)
    assert (stored.status, stored.version) == ("closed", 3)
    events = OutboxEvent.objects.filter(aggregate_id=order.pk)
    assert events.count() == 1
    assert events.get().payload["closedAt"] == winner["closedAt"]
    assert OutboxEvent.objects.count() == 1


def test_concurrent_confirm_and_close_of_a_draft_never_close_it_unconfirmed(
    client_for: ClientFor, concurrently: Concurrently
) -> None:
    # given: half the racers confirm, half try to close straight away
    order = OrderFactory.create()

    def write(index: int) -> tuple[int, str | None]:
        client = client_for("tenant-1")
        if index % 2 == 0:
            return outcome(confirm(client, order.pk, total=10, if_match="*"))
        return outcome(close(client, order.pk))

    # when
    results = concurrently(write, RACERS)

    # then: one confirm wins; a close wins only if it ran after that confirm
    confirms = Counter(results[0::2])
    closes = Counter(results[1::2])
    assert confirms[(200, None)] == 1
    assert set(confirms) <= {(200, None), (409, "invalid_state_transition")}
    assert closes[(200, None)] <= 1
    assert set(closes) <= {(200, None), (409, "invalid_state_transition")}
    stored = Order.objects.get(pk=order.pk)
    closed = closes[(200, None)] == 1
    assert stored.version == (3 if closed else 2)
    assert stored.status == ("closed" if closed else "confirmed")
    assert OutboxEvent.objects.filter(aggregate_id=order.pk).count() == (1 if closed else 0)
