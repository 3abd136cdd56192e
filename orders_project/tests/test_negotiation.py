"""ContentNegotiation picks what DRF's own negotiation picks, for every Accept."""

import pytest
from rest_framework import exceptions
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from orders_project.api import ContentNegotiation

ACCEPTS = [
    None,
    "*/*",
    "application/json",
    "",
    "application/json; indent=4",
    "text/html",
    "text/html,application/xhtml+xml,*/*;q=0.8",
    "application/xml",
    "application/*",
]


def _choice(negotiation: DefaultContentNegotiation, request: Request) -> object:
    renderers = APIView().get_renderers()  # the settings' renderers, as a view has them
    try:
        renderer, media_type = negotiation.select_renderer(request, renderers)
    except exceptions.NotAcceptable:
        return "406"
    return type(renderer), media_type


@pytest.mark.parametrize("accept", ACCEPTS)
@pytest.mark.parametrize("query", ["", "?format=api", "?format=json", "?format="])
def test_the_renderer_and_media_type_are_drfs(accept: str | None, query: str) -> None:
    # given
    headers = {} if accept is None else {"Accept": accept}
    request = Request(APIRequestFactory().get(f"/orders{query}", headers=headers))

    # when / then
    assert _choice(ContentNegotiation(), request) == _choice(DefaultContentNegotiation(), request)
