"""The harness's own logic: fast, no database, no server."""

import pytest

from benchmarks import report
from benchmarks.statements import drift, normalise, script_statements

# As Django logs them (CaptureQueriesContext: parameters interpolated by psycopg).
APP_GET = (
    "SELECT id, tenant_id, status, version, total_cents, created_at, updated_at, closed_at "
    "FROM orders WHERE tenant_id = 'load-1' AND id = '0c2965ddd03e4bfbbd8e8753e90e4bb6'::uuid"
)
APP_LOCK = (
    'SELECT "orders"."id", "orders"."tenant_id", "orders"."status", "orders"."version", '
    '"orders"."total_cents", "orders"."created_at", "orders"."updated_at", '
    '"orders"."closed_at" FROM "orders" WHERE ("orders"."id" = '
    "'0c2965ddd03e4bfbbd8e8753e90e4bb6'::uuid AND \"orders\".\"tenant_id\" = 'cap-2') "
    'LIMIT 21 FOR UPDATE OF "orders"'
)
APP_DONE = (
    "UPDATE idempotency_keys SET response_status = 200, response_headers = "
    'E\'{"Content-Type": "application/json", "ETag": "\\\\"2\\\\""}\'::jsonb, '
    "response_body = '\\x7b7d'::bytea WHERE tenant_id = 'cap-2' AND key = 'k''ey'"
)


@pytest.mark.parametrize(
    ("app_sql", "script", "index"),
    [(APP_GET, "get", 0), (APP_LOCK, "confirm", 3), (APP_DONE, "confirm", 5)],
)
def test_the_apps_statement_and_its_pgbench_line_normalise_alike(
    app_sql: str, script: str, index: int
) -> None:
    assert normalise(app_sql) == normalise(script_statements(script)[index])


def test_a_script_that_orders_and_limits_what_the_app_does_not_has_drifted() -> None:
    # given: the get the app sends, and the line the get script sent before it was fixed
    stale = (
        "SELECT id, tenant_id, status, version, total_cents, created_at, updated_at, "
        "closed_at FROM orders WHERE (tenant_id = :tenant AND id = :id) ORDER BY id ASC LIMIT 1;"
    )

    # then: same verb, same table, yet not the same statement
    assert normalise(APP_GET) != normalise(stale)


def test_a_script_that_sends_other_statements_is_reported_not_refused() -> None:
    # given: the app sends what every script sends, except a SAVEPOINT more in close
    names = ("create", "replay", "get", "confirm", "close", "list_first", "list_deep")
    app = {name: script_statements(name) for name in names}
    app["close"] = [*app["close"][:-1], "SAVEPOINT s1", app["close"][-1]]

    # when
    drifted = drift(app)

    # then
    assert list(drifted) == ["close"]
    assert "savepoint s1" in drifted["close"]["app"]
    assert "savepoint s1" not in drifted["close"]["pgbench"]


def test_a_changed_condition_is_drift_even_with_the_same_verb_and_table() -> None:
    app = {"get": [APP_GET.replace("AND id =", "AND status = 'draft' AND id =")]}

    assert list(drift(app)) == ["get"]


def _run(ms: dict[str, float]) -> dict:
    figures = {"rps": 100.0, "p50_us": 2000, "p99_us": 9000, "errors": 0}
    figures |= {"workers_cpu_us": 1500.0, "haproxy_cpu_us": 100.0}
    runs = {run: dict(figures) for run in report.RUNS}
    runs["serve-8"]["rps"] = 80.0
    return {
        "machine": dict.fromkeys(
            ("commit", "cpu", "cores", "python", "postgresql", "load_before", "load_after"), "x"
        ),
        "mode": {"name": "quick", "seconds": 1, "depth_repeats": 3},
        "measured_at": "now",
        "server_options": "",
        "workers": 5,
        "seconds": 60,
        "titles": {"get": "get"},
        "statements": {"get": [APP_GET]},
        "drift": {},
        "load": {"get": runs},
        "ceiling": {"get": {"tps": 1000.0}},
        "floors": dict.fromkeys(("wsgi", "django", "app_direct", "app_serve"), figures),
        "walk": {"pages": 10, "orders": 1000, "ms": ms},
    }


def test_the_report_gives_deepest_over_first_both_ways_and_serve_over_direct() -> None:
    ms = {"first": 2.0, "deepest": 3.0, "back_first": 2.0, "back_deepest": 5.0}

    text = report.render(_run(ms))

    assert "| forward (`nextCursor`) | 2.00 | 3.00 | **1.50** |" in text
    assert "| backward (`prevCursor`) | 2.00 | 5.00 | **2.50** |" in text
    assert "| 0.80 / 1.00 | 100 | 1,000 | 10% | 0 |" in text


def test_without_prev_cursors_the_report_says_there_is_no_backward_figure() -> None:
    text = report.render(_run({"first": 2.0, "deepest": 2.0}))

    assert "no backward figure" in text
