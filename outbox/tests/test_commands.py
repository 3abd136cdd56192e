"""The operator's commands and the admin's requeue action."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from outbox.models import OutboxEvent
from outbox.tests.factories import OutboxEventFactory

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_status_reports_the_queue_as_json() -> None:
    # given
    OutboxEventFactory.create(created_at=timezone.now() - timedelta(seconds=90))
    OutboxEventFactory.create(dead=True)
    OutboxEventFactory.create(published=True)

    # when
    report = json.loads(run("outbox_status", "--json"))

    # then
    assert report["pending"] == 1
    assert report["dead"] == 1
    assert report["publishedLastHour"] == 1
    assert 89 < report["oldestPendingAgeSeconds"] < 120


def test_status_check_fails_on_dead_events() -> None:
    # given
    OutboxEventFactory.create(dead=True)

    # when / then
    with pytest.raises(CommandError) as error:
        run("outbox_status", "--check")
    assert error.value.returncode == 1


def test_status_check_passes_on_a_fresh_backlog() -> None:
    # given
    OutboxEventFactory.create()

    # when
    output = run("outbox_status", "--check", "--max-age", "60")

    # then
    assert "pending: 1" in output


def test_requeue_named_dead_events() -> None:
    # given
    dead = OutboxEventFactory.create(dead=True)

    # when
    output = run("outbox_requeue", str(dead.pk))

    # then
    assert "Requeued 1 dead event(s)." in output
    dead.refresh_from_db()
    assert dead.state == "pending"


def test_requeue_exits_1_for_an_event_that_is_not_dead() -> None:
    # given
    pending = OutboxEventFactory.create()

    # when / then
    with pytest.raises(CommandError, match=str(pending.pk)) as error:
        run("outbox_requeue", str(pending.pk))
    assert error.value.returncode == 1


def test_requeue_needs_ids_or_all() -> None:
    with pytest.raises(CommandError) as error:
        run("outbox_requeue")
    assert error.value.returncode == 2


def test_prune_deletes_old_published_events_only() -> None:
    # given
    OutboxEventFactory.create(published_at=timezone.now() - timedelta(days=3))
    kept = OutboxEventFactory.create(created_at=timezone.now() - timedelta(days=3))

    # when
    output = run("outbox_prune", "--older-than", "2d", "--batch-size", "1")

    # then
    assert "Pruned 1 published event(s)" in output
    assert list(OutboxEvent.objects.values_list("pk", flat=True)) == [kept.pk]


def test_relay_once_without_a_broker_prints_each_event_as_a_json_line(
    settings: pytest.FixtureRequest,
) -> None:
    # given
    settings.OUTBOX_BROKER_URL = ""  # type: ignore[attr-defined]
    event = OutboxEventFactory.create()

    # when
    output = run("outbox_relay", "--once")

    # then
    line = json.loads(output.strip())
    assert line["messageId"] == str(event.pk)
    assert line["routingKey"] == "orders.closed"
    assert line["headers"]["tenant_id"] == "tenant-1"
    assert line["body"] == event.payload
    event.refresh_from_db()
    assert event.state == "published"


def test_the_admin_action_requeues_selected_dead_events(admin_client: Client) -> None:
    # given
    dead = OutboxEventFactory.create(dead=True)

    # when
    response = admin_client.post(
        "/admin/outbox/outboxevent/",
        {"action": "requeue_dead_events", "_selected_action": [str(dead.pk)]},
        follow=True,
    )

    # then
    assert response.status_code == 200
    assert "Requeued 1 dead event(s)." in response.content.decode()
    dead.refresh_from_db()
    assert dead.state == "pending"
