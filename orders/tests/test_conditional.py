"""If-Match as RFC 9110 reads it: `*`, or a list that holds when any member matches."""

import pytest
from django.test import Client

from orders.api.conditional import expected_versions
from orders.errors import PreconditionRequired
from orders.models import Order
from orders.tests.factories import ConfirmedOrderFactory, OrderFactory
from orders.tests.http import assert_order_response, assert_problem, close, confirm

# A 412 is refused inside the service's transaction: it must be the outermost one (see
# test_api.py's `committed`).
committed = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    ("header", "versions"),
    [
        ("1", {1}),
        ('"1", "2"', {1, 2}),
        ('W/"3" , 4,"5"', {3, 4, 5}),
        (' "7" ', {7}),
        # members naming no version of ours are no match, whatever else they hold
        ('"abc", "2"', {2}),
        ('"a,1,b"', set()),  # one entity tag that holds commas, not three members
        ('"1', set()),
        ("\u0665", set()),  # ARABIC-INDIC DIGIT FIVE: only ASCII digits name a version
        ("1 2", set()),
        ('*, "1"', {1}),  # `*` is only `*` on its own
        ('"0"', {0}),
    ],
)
def test_if_match_names_the_versions_of_its_members(header: str, versions: set[int]) -> None:
    assert expected_versions(header, required=True) == versions


@pytest.mark.parametrize("header", [None, "", "  "])
def test_if_match_absent_is_any_version_or_required(header: str | None) -> None:
    assert expected_versions(header, required=False) is None
    with pytest.raises(PreconditionRequired):
        expected_versions(header, required=True)


def test_if_match_star_is_any_version() -> None:
    assert expected_versions(" * ", required=True) is None


@pytest.mark.django_db
@pytest.mark.parametrize("if_match", ['"1", "2"', '"2", "1"', 'W/"9", 1', '"abc", "1"'])
def test_confirm_holds_when_any_member_of_an_if_match_list_names_the_version(
    api: Client, if_match: str
) -> None:
    # given: an order at version 1
    order = OrderFactory.create()

    # when
    response = confirm(api, order.pk, total=300, if_match=if_match)

    # then
    body = assert_order_response(response)
    assert (body["status"], body["version"]) == ("confirmed", 2)
    assert Order.objects.get(pk=order.pk).version == 2


@committed
@pytest.mark.parametrize("if_match", ['"2", "3"', '"abc", W/"0"', '"a,1,b"'])
def test_an_if_match_list_naming_no_current_version_is_412(api: Client, if_match: str) -> None:
    # given: an order at version 1
    order = OrderFactory.create()

    # when
    response = confirm(api, order.pk, if_match=if_match)

    # then: refused, and nothing changed
    assert_problem(response, 412, "stale_version")
    stored = Order.objects.get(pk=order.pk)
    assert (stored.status, stored.version) == ("draft", 1)


@pytest.mark.django_db
def test_close_honours_an_if_match_list(api: Client) -> None:
    # given: a confirmed order, at version 2
    order = ConfirmedOrderFactory.create()

    # when
    response = close(api, order.pk, if_match='"1", "2"')

    # then
    body = assert_order_response(response)
    assert (body["status"], body["version"]) == ("closed", 3)
