"""The harness's own logic: fast, no database, no server."""

import pytest

from benchmarks.report import bound
from benchmarks.run import OPERATIONS, drift, pgbench_shapes, statement_shape


@pytest.mark.parametrize(
    ("django_sql", "pgbench_sql"),
    [
        (
            (
                'SELECT "orders"."id", "orders"."status" FROM "orders" '
                'WHERE ("orders"."tenant_id" = %s AND "orders"."id" = %s) LIMIT 21'
            ),
            "SELECT status, id FROM orders WHERE tenant_id = :tenant AND id = :id LIMIT 1;",
        ),
        (
            'INSERT INTO "orders" ("id", "tenant_id") VALUES (%s, %s)',
            "INSERT INTO orders (tenant_id, id) VALUES (:tenant, gen_random_uuid());",
        ),
        (
            'UPDATE "orders" SET "version" = ("orders"."version" + 1) WHERE "orders"."id" = %s',
            "UPDATE orders SET version = (version + 1) WHERE id = :id;",
        ),
        ("BEGIN", "BEGIN;"),
    ],
)
def test_a_statement_keeps_its_shape_whatever_its_quoting_columns_or_limit(
    django_sql: str, pgbench_sql: str
) -> None:
    assert statement_shape(django_sql) == statement_shape(pgbench_sql)


def test_a_script_that_issues_other_statements_is_reported_not_refused() -> None:
    # given: the app sends what every script issues, except one more statement for close
    app = {op.name: pgbench_shapes(op.pgbench_script) for op in OPERATIONS}
    app["close"] = [*app["close"][:-1], "SAVEPOINT", app["close"][-1]]

    # when
    drifted = drift(app)

    # then
    assert list(drifted) == ["close"]
    assert drifted["close"]["app"] == app["close"]
    assert "SAVEPOINT" not in drifted["close"]["pgbench"]


def test_the_bound_adds_bare_djangos_cost_per_request_to_the_ceilings() -> None:
    # 1 / (1/4000 + 1/12000) = 3000: a quarter of each request's time is its SQL
    assert bound(4000, 12000) == pytest.approx(3000)
