"""Request ids, JSON log lines with the tenant, and Prometheus metrics."""

import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.utils.module_loading import import_string
from prometheus_client.parser import text_string_to_metric_families

from orders.tests.factories import ClosedOrderFactory, DraftOrderFactory
from orders.tests.http import assert_problem, close, confirm, create
from orders_project import metrics
from orders_project.observability import RequestContextFilter

pytestmark = pytest.mark.django_db


@pytest.fixture
def access_lines() -> Iterator[io.StringIO]:
    """The access log as the JSON lines production writes (same filter, same formatter)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestContextFilter())
    config: dict[str, Any] = settings.LOGGING
    options = dict(config["formatters"]["json"])
    handler.setFormatter(import_string(options.pop("()"))(**options))
    logger = logging.getLogger("orders.access")
    logger.addHandler(handler)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)


METRICS_TOKEN = "scrape-token-for-tests"


@pytest.fixture(autouse=True)
def _metrics_token(settings: Any) -> None:
    settings.METRICS_TOKEN = METRICS_TOKEN


def scrape(client: Client) -> dict[str, float]:
    """GET /metrics as {'name{label="v"}': value}, as Prometheus does (with the token)."""
    response = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert response.status_code == 200
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


def test_a_sane_request_id_is_echoed_and_a_missing_or_odd_one_replaced(api: Client) -> None:
    # when
    given = api.get("/orders", headers={"X-Request-ID": "req-42.a:b"})
    missing = api.get("/orders")
    odd = api.get("/orders", headers={"X-Request-ID": "x" * 129})
    refused = Client().get("/orders", headers={"X-Request-ID": "gw-7"})

    # then
    assert given["X-Request-ID"] == "req-42.a:b"
    assert re.fullmatch(r"[0-9a-f]{32}", missing["X-Request-ID"])
    assert re.fullmatch(r"[0-9a-f]{32}", odd["X-Request-ID"])
    assert missing["X-Request-ID"] != odd["X-Request-ID"]
    # even a refusal by the tenant middleware says which request it was
    assert_problem(refused, 400, "tenant_required")
    assert refused["X-Request-ID"] == "gw-7"


def test_each_request_writes_one_json_access_line_with_its_id_and_tenant(
    api: Client, access_lines: io.StringIO
) -> None:
    # when
    create(api)
    Client().get("/healthz", headers={"X-Request-ID": "probe-1"})

    # then
    first, second = (json.loads(line) for line in access_lines.getvalue().splitlines())
    assert first["tenant_id"] == "tenant-1"
    assert re.fullmatch(r"[0-9a-f]{32}", first["request_id"])
    assert (first["method"], first["path"], first["route"], first["status"]) == (
        "POST",
        "/orders",
        "order-list",
        201,
    )
    assert first["duration_ms"] > 0
    assert second["request_id"] == "probe-1"
    assert second["tenant_id"] is None
    assert second["route"] == "healthz"
    # and: the fields every line has, as production names them
    for line in (first, second):
        assert (line["level"], line["logger"]) == ("INFO", "orders.access")
        assert line["message"].startswith(line["method"] + " ")
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+\+00:00", line["time"])


# Committed: a refused write dooms the transaction it runs in (the services take no
# savepoint), so each request must be its own outermost transaction, as in production.
@pytest.mark.django_db(transaction=True)
def test_metrics_count_requests_replays_conflicts_and_lock_failures(api: Client) -> None:
    # given
    before = scrape(Client())
    order = DraftOrderFactory.create(tenant_id="tenant-1")
    ClosedOrderFactory.create(tenant_id="tenant-1")

    # when
    for _ in range(3):
        create(api, key="m")
    create(api, key="m", body={"x": 1})
    confirm(api, order.pk, total=1, if_match="7")
    after = scrape(Client())

    # then
    def grew(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    assert grew("orders_idempotency_replays_total") == 2
    assert grew('orders_idempotency_conflicts_total{reason="reused"}') == 1
    assert grew("orders_optimistic_lock_failures_total") == 1
    assert (
        grew(
            'orders_http_request_duration_seconds_count{method="POST",route="order-list",status="201"}'
        )
        == 3
    )
    assert (
        grew(
            'orders_http_request_duration_seconds_count{method="PATCH",route="order-confirm",status="412"}'
        )
        == 1
    )
    # and the outbox gauges describe the table as it is: seeded closed orders have no event
    assert after["orders_outbox_pending_events"] == 0
    assert after["orders_outbox_oldest_pending_age_seconds"] == 0


def test_metrics_report_the_outbox_backlog(client_for) -> None:
    # given: a closed order whose event nobody has published
    api = client_for("tenant-9")
    order_id = create(api).json()["id"]
    confirm(api, order_id, total=5)

    # when
    close(api, order_id)
    samples = scrape(Client())

    # then
    assert samples["orders_outbox_pending_events"] == 1
    assert samples["orders_outbox_oldest_pending_age_seconds"] >= 0
    assert samples["orders_outbox_dead_events"] == 0


def test_metrics_take_only_get() -> None:
    response = Client().post("/metrics")
    assert_problem(response, 405, "method_not_allowed")


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer", "Bearer wrong-token", f"Basic {METRICS_TOKEN}", "Bearer ünïcode"],
)
def test_metrics_need_the_token(authorization: str | None) -> None:
    # when
    headers = {"Authorization": authorization} if authorization else {}
    response = Client().get("/metrics", headers=headers)

    # then
    assert_problem(response, 401, "unauthenticated")
    assert response["WWW-Authenticate"] == "Bearer"
    assert "orders_http_request" not in response.text


def test_metrics_are_not_served_without_a_token_configured(settings: Any) -> None:
    # given
    settings.METRICS_TOKEN = ""

    # when
    response = Client().get("/metrics", headers={"Authorization": "Bearer "})

    # then
    assert_problem(response, 404, "not_found")


def test_metric_labels_come_from_closed_sets(api: Client) -> None:
    # given: methods nobody defined, and a status no view answers
    before = scrape(Client())
    made_up = [f"QAAA{letter}" for letter in "ABCDEFGHIJ"]

    # when
    for method in made_up:
        api.generic(method, "/orders")
    metrics.observe_request(route="healthz", method="GET", status=799, seconds=0.001)
    after = scrape(Client())

    # then: no new label value per request; they all count as `other`
    methods = {value for name in after for value in re.findall(r'method="([^"]*)"', name)}
    statuses = {value for name in after for value in re.findall(r'status="([^"]*)"', name)}
    assert not methods & set(made_up)
    assert "799" not in statuses
    key = (
        "orders_http_request_duration_seconds_count"
        '{method="other",route="order-list",status="405"}'
    )
    assert after[key] - before.get(key, 0.0) == len(made_up)
    other = (
        'orders_http_request_duration_seconds_count{method="GET",route="healthz",status="other"}'
    )
    assert after[other] - before.get(other, 0.0) == 1
