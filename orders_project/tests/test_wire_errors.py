"""Refusals by gunicorn's HTTP parser are problem+json with registered codes."""

import json

import pytest

from orders_project import wire_errors
from orders_project.problems import PROBLEM_TYPES
from orders_project.wire_errors import PROBLEM_TYPE_BASE


@pytest.mark.parametrize("status", sorted(wire_errors.WIRE_PROBLEMS))
def test_every_wire_problem_is_a_registered_code(status: int) -> None:
    code, title = wire_errors.WIRE_PROBLEMS[status]
    assert PROBLEM_TYPES[code] == (status, title)


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
    assert len(problem["detail"]) == 200


def test_unknown_statuses_fall_back_to_a_generic_code() -> None:
    body = wire_errors.problem_bytes(418, "Teapot", "").split(b"\r\n\r\n", 1)[1]
    assert json.loads(body)["code"] == "bad_request"
