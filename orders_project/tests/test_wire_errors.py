"""Refusals by gunicorn's HTTP parser are problem+json, declared by the error classes."""

import json

import pytest

from orders_project import wire_errors
from orders_project.errors import PROBLEM_TYPE_BASE


def problem_of(raw: bytes) -> dict[str, object]:
    body: dict[str, object] = json.loads(raw.split(b"\r\n\r\n", 1)[1])
    return body


def test_problem_bytes_is_a_complete_problem_response() -> None:
    # when
    raw = wire_errors.problem_bytes(431, "Request Header Fields Too Large", "x" * 1000)

    # then
    head, body = raw.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0] == "HTTP/1.1 431 Request Header Fields Too Large"
    assert "Content-Type: application/problem+json" in lines
    assert f"Content-Length: {len(body)}" in lines
    problem = json.loads(body)
    assert problem["status"] == 431
    assert problem["code"] == "header_fields_too_large"
    assert problem["type"] == PROBLEM_TYPE_BASE + "header-fields-too-large"
    assert problem["title"] == "Request header fields too large"
    assert len(problem["detail"]) == 200


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "bad_request"),
        (403, "forbidden"),
        (414, "uri_too_long"),
        (417, "expectation_failed"),
        (431, "header_fields_too_large"),
        (500, "internal_error"),
        (501, "not_implemented"),
        (418, "bad_request"),
        (599, "internal_error"),
    ],
)
def test_every_status_gunicorn_answers_has_its_code(status: int, code: str) -> None:
    # when
    problem = problem_of(wire_errors.problem_bytes(status, "Reason", ""))

    # then: an empty message from gunicorn still gives the client a detail
    assert (problem["status"], problem["code"]) == (status, code)
    assert problem["detail"]
