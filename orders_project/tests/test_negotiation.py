"""ContentNegotiation picks what DRF's own negotiation picks, for every Accept."""

import pytest
from rest_framework import exceptions
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.test import APIRequestFactory

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
    renderers = [renderer() for renderer in api_settings.DEFAULT_RENDERER_CLASSES]
    try:
        renderer, media_type = negotiation.select_renderer(request, renderers)
    except exceptions.NotAcceptable:
        return "406"
    return type(renderer), media_type


@pytest.mark.parametrize("accept", ACCEPTS)
@pytest.mark.parametrize("query", ["", "?format=api", "?format=json", "?format="])
def test_the_renderer_and_media_type_are_drfs(accept: str | None, query: str) -> None:
    # given
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    request = Request(APIRequestFactory().get(f"/orders{query}", **headers))

    # when / then
    assert _choice(ContentNegotiation(), request) == _choice(DefaultContentNegotiation(), request)
