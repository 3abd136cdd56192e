"""Bearer tokens are read one way, for API keys and for the metrics token alike."""

import pytest
from django.test import RequestFactory

from orders_project.credentials import bearer_token


@pytest.mark.parametrize(
    ("authorization", "token"),
    [
        ("Bearer ordk_1.secret", "ordk_1.secret"),
        ("bearer ordk_1.secret", "ordk_1.secret"),  # the scheme is case-insensitive
        ("BEARER   ordk_1.secret  ", "ordk_1.secret"),
        ("Bearer", None),
        ("Bearer    ", None),
        ("Basic dXNlcjpwYXNz", None),
        ("ordk_1.secret", None),
        (None, None),
    ],
)
def test_a_bearer_token_is_the_credentials_of_the_bearer_scheme(
    authorization: str | None, token: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    request = RequestFactory().get("/orders", headers=headers)

    assert bearer_token(request) == token
