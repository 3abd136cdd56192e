"""The SQL each operation sends, recorded in process, and compared whole (values, casts,
quoting and whitespace aside) with its pgbench script, which is its ceiling only while
it sends the same statements."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

PGBENCH_DIR = Path(__file__).resolve().parent / "pgbench"

# What stands for a value: in the app's SQL (as Django logs it, parameters interpolated)
# a literal; in a pgbench script also a variable, or an expression that yields a fresh or
# side-table value where the app sends a parameter (a pgbench variable holds a number).
_VALUE = re.compile(
    r"""\(\s*SELECT\s+id\s+FROM\s+bench_ids\b[^)]*\)   # an order id from the side table
      | now\(\)(?:\s*\+\s*interval\s+'[^']*')?        # a timestamp
      | gen_random_uuid\(\)                           # a fresh id
      | E?'(?:[^']|'')*'                              # a string
      | (?<![\w.:]):\w+                               # a pgbench variable
      | \b\d+(?:\.\d+)?\b                             # a number
      | \bNULL\b""",
    re.IGNORECASE | re.VERBOSE,
)


def normalise(sql: str) -> str:
    """A statement with every value as `?`, no casts, quotes or table prefixes on columns,
    and single spaces: what stays equal while parameters and formatting change."""
    text = _VALUE.sub("?", sql)
    text = re.sub(r"::\w+(?:\[\])?", "", text)  # casts
    text = text.replace('"', "")
    text = re.sub(r"\b\w+\.(?=\w)", "", text)  # orders.id -> id
    text = " ".join(text.split()).rstrip(";").strip().lower()
    text = re.sub(r"\(\s+", "(", text)
    return re.sub(r"\s+\)", ")", text)


def script_statements(name: str) -> list[str]:
    """The statements of benchmarks/pgbench/<name>.sql (meta-commands and comments aside)."""
    lines = (PGBENCH_DIR / f"{name}.sql").read_text().splitlines()
    return [line for line in lines if line.strip() and not line.startswith(("\\", "--"))]


def drift(app: dict[str, list[str]]) -> dict[str, dict[str, list[str]]]:
    """Per operation whose script sends other statements than the app: both, normalised."""
    drifted = {}
    for name, statements in app.items():
        if not (PGBENCH_DIR / f"{name}.sql").exists():
            continue
        ours = [normalise(sql) for sql in statements]
        script = [normalise(sql) for sql in script_statements(name)]
        if ours != script:
            drifted[name] = {"app": ours, "pgbench": script}
    return drifted


def record(tenant: str) -> dict[str, list[str]]:
    """Run each operation once through Django's test client in a tenant of its own;
    the statements it sent, in order (BEGIN and COMMIT included). Needs django.setup()."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    # A Host the app answers to (ALLOWED_HOSTS), not the test client's `testserver`.
    client = Client(headers={"X-Tenant-Id": tenant}, SERVER_NAME="localhost")
    recorded: dict[str, list[str]] = {}

    def send(name: str, status: int, method: str, path: str, **kwargs: Any) -> Any:
        with CaptureQueriesContext(connection) as queries:
            response = getattr(client, method)(path, **kwargs)
        if response.status_code != status:
            raise SystemExit(
                f"bench: {name} answered {response.status_code}: {response.content!r}"
            )
        recorded[name] = [query["sql"] for query in queries.captured_queries]
        return response

    def keyed(**headers: str) -> dict[str, Any]:
        key = {"Idempotency-Key": uuid.uuid4().hex, **headers}
        return {"content_type": "application/json", "headers": key}

    create = keyed()
    order = send("create", 201, "post", "/orders", data="{}", **create).json()
    send("replay", 201, "post", "/orders", data="{}", **create)
    path = f"/orders/{order['id']}"
    send("get", 200, "get", path)
    send("get_not_modified", 304, "get", path, headers={"If-None-Match": '"1"'})
    confirm = keyed(**{"If-Match": '"1"'})
    send("confirm", 200, "patch", f"{path}/confirm", data='{"totalCents": 4200}', **confirm)
    send("close", 200, "post", f"{path}/close", **keyed(**{"If-Match": '"2"'}))
    for _ in range(25):  # enough for a second page
        client.post("/orders", "{}", **keyed())
    first = send("list_first", 200, "get", "/orders?limit=20").json()
    deep = send(
        "list_deep", 200, "get", "/orders", data={"limit": 20, "cursor": first["nextCursor"]}
    )
    if deep.json().get("prevCursor"):
        send(
            "list_back",
            200,
            "get",
            "/orders",
            data={"limit": 20, "cursor": deep.json()["prevCursor"]},
        )
    return recorded
