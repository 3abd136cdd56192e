"""The answers HAProxy gives itself (deploy/haproxy/errors) are the API's problem+json."""

import json
import re
from pathlib import Path

import pytest

from orders_project.errors import PROBLEM_TYPE_BASE, PROBLEM_TYPES

HAPROXY_DIR = Path(__file__).resolve().parents[2] / "deploy" / "haproxy"
ERROR_FILES = sorted((HAPROXY_DIR / "errors").glob("*.http"))


def test_every_error_file_the_proxy_names_exists() -> None:
    # given
    config = (HAPROXY_DIR / "haproxy.cfg").read_text()

    # when
    named = re.findall(r'errorfile (\d{3}) "\$\{PROXY_ERRORS_DIR\}/(\d{3})\.http"', config)

    # then: each status maps to its own file, and the file is there
    assert named
    assert all(status == file for status, file in named)
    assert {f"{file}.http" for _, file in named} <= {path.name for path in ERROR_FILES}
    # and: so does each file a rule answers with, named by its problem's code
    by_rule = re.findall(r'deny .*errorfile "\$\{PROXY_ERRORS_DIR\}/([a-z_]+)\.http"', config)
    assert {f"{code}.http" for code in by_rule} <= {path.name for path in ERROR_FILES}


@pytest.mark.parametrize("path", ERROR_FILES, ids=lambda path: path.stem)
def test_an_error_file_is_a_whole_problem_json_response(path: Path) -> None:
    # when
    head, _, body = path.read_bytes().partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in header_lines)
    problem = json.loads(body)

    # then: a complete HTTP/1.1 response whose body is the problem of its status (the
    # file's name), or the problem its name is the code of
    if path.stem.isdigit():
        status = int(path.stem)
    else:
        assert problem["code"] == path.stem
        status = PROBLEM_TYPES[path.stem].status_code
    assert status_line.startswith(f"HTTP/1.1 {status} ")
    assert headers["Content-Type"] == "application/problem+json"
    assert int(headers["Content-Length"]) == len(body)
    assert problem["status"] == status
    assert problem["code"] in PROBLEM_TYPES
    assert problem["type"] == PROBLEM_TYPE_BASE + problem["code"].replace("_", "-")
    assert problem["title"] == PROBLEM_TYPES[problem["code"]].title
    assert problem["detail"]
    # and: a client told to come back is told when (the contract: 429 and 503)
    if problem["status"] in (429, 502, 503, 504):
        assert headers["Retry-After"] == "1"
