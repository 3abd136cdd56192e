"""The schema says who may call /orders, as TENANT_AUTH_MODE decides."""

import pytest
from django.test import Client, override_settings

OPERATIONS = [
    ("/orders", "get"),
    ("/orders", "post"),
    ("/orders/{id}", "get"),
    ("/orders/{id}/confirm", "patch"),
    ("/orders/{id}/close", "post"),
]


def schema() -> dict:
    response = Client().get("/openapi.json")
    assert response.status_code == 200
    return response.json()


@pytest.mark.parametrize(("path", "method"), OPERATIONS)
def test_trusted_header_mode_needs_no_credential(path: str, method: str) -> None:
    operation = schema()["paths"][path][method]

    assert {} in operation["security"]
    assert "403" in operation["responses"]
    assert "401" not in operation["responses"]


@override_settings(TENANT_AUTH_MODE="api-key")
@pytest.mark.parametrize(("path", "method"), OPERATIONS)
def test_api_key_mode_needs_a_key_or_a_session(path: str, method: str) -> None:
    document = schema()
    operation = document["paths"][path][method]

    assert {} not in operation["security"]
    assert {"tenantApiKey": []} in operation["security"]
    assert document["components"]["securitySchemes"]["tenantApiKeyHeader"]["name"] == "X-Api-Key"
    assert "401" in operation["responses"]


@pytest.mark.parametrize("mode", ["trusted-header", "api-key"])
def test_every_security_scheme_an_operation_names_is_defined(mode: str) -> None:
    # when
    with override_settings(TENANT_AUTH_MODE=mode):
        document = schema()

    # then: a client generator finds each scheme it is told to use
    defined = document["components"]["securitySchemes"]
    named = {
        scheme
        for path_item in document["paths"].values()
        for operation in path_item.values()
        for requirement in operation.get("security", [])
        for scheme in requirement
    }
    assert "cookieAuth" in named
    assert named <= defined.keys()
    assert defined["cookieAuth"] == {"type": "apiKey", "in": "cookie", "name": "sessionid"}
