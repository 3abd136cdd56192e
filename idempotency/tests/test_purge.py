"""`manage.py purge_idempotency_keys`: expired keys go, live ones stay."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from idempotency.models import IdempotencyKey
from idempotency.tests.helpers import backend_pid, key_in_flight
from orders.models import Order
from orders.tests.http import TENANT, create


def add_keys(count, *, expires_in, tenant_id=TENANT, prefix="key"):
    now = timezone.now()
    IdempotencyKey.objects.bulk_create(
        IdempotencyKey(
            tenant_id=tenant_id,
            key=f"{prefix}-{index}",
            fingerprint="0" * 64,
            response_status=201,
            response_headers={},
            response_body=b"{}",
            created_at=now - timedelta(hours=24),
            expires_at=now + expires_in,
        )
        for index in range(count)
    )


def purge(*args):
    out = StringIO()
    call_command("purge_idempotency_keys", *args, stdout=out, stderr=StringIO())
    return out.getvalue().strip()


def remaining():
    return set(IdempotencyKey.objects.values_list("tenant_id", "key"))


@pytest.mark.django_db
class TestPurge:
    """What the operator's command deletes and reports."""

    def test_deletes_only_expired_keys_of_every_tenant_and_reports_the_count(self):
        # given
        add_keys(2, expires_in=-timedelta(seconds=1), tenant_id="tenant-1", prefix="old")
        add_keys(1, expires_in=-timedelta(hours=5), tenant_id="tenant-2", prefix="old")
        add_keys(2, expires_in=timedelta(minutes=1), tenant_id="tenant-1", prefix="live")
        add_keys(1, expires_in=timedelta(hours=23), tenant_id="tenant-2", prefix="live")

        # when
        output = purge()

        # then
        assert output == "Purged 3 expired idempotency key(s)."
        assert remaining() == {
            ("tenant-1", "live-0"),
            ("tenant-1", "live-1"),
            ("tenant-2", "live-0"),
        }

    def test_reports_zero_when_nothing_expired(self):
        # given
        add_keys(3, expires_in=timedelta(hours=1))

        # when
        output = purge()

        # then
        assert output == "Purged 0 expired idempotency key(s)."
        assert IdempotencyKey.objects.count() == 3

    def test_deletes_in_batches_of_the_given_size(self):
        # given
        add_keys(2505, expires_in=-timedelta(minutes=1), prefix="old")
        add_keys(5, expires_in=timedelta(minutes=1), prefix="live")

        # when
        with CaptureQueriesContext(connection) as queries:
            output = purge("--batch-size", "1000")

        # then
        assert output == "Purged 2505 expired idempotency key(s)."
        assert remaining() == {(TENANT, f"live-{index}") for index in range(5)}
        deletes = [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith("DELETE")]
        assert len(deletes) == 3
        assert all("LIMIT 1000" in sql for sql in deletes)

    def test_a_batch_size_below_one_is_refused_and_deletes_nothing(self):
        # given
        add_keys(2, expires_in=-timedelta(minutes=1))

        # when
        with pytest.raises(SystemExit) as exit_:
            purge("--batch-size", "0")

        # then
        assert exit_.value.code == 2
        assert IdempotencyKey.objects.count() == 2

    def test_a_purged_key_is_free_again(self, api):
        # given
        first = create(api, key="key-1")
        IdempotencyKey.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
        purge()

        # when
        again = create(api, key="key-1")

        # then
        assert again.status_code == 201
        assert not again.has_header("Idempotent-Replayed")
        assert again.json()["id"] != first.json()["id"]
        assert Order.objects.count() == 2


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(60)
def test_purge_never_deletes_a_key_taken_over_while_it_ran(api):
    """A retry that takes over an expired key keeps it, even when a purge that had
    already selected the expired row is waiting on it when the retry commits."""
    # given an expired key, and a retry that takes it over (a new order and its stored
    # response) and commits once the purge waits on the row
    create(api, key="key-1")
    IdempotencyKey.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    # when
    with key_in_flight(key="key-1", commit=True, waiter_pid=backend_pid()) as retry:
        purge()

    # then the key is still live, so the client's next retry replays instead of running
    assert retry.saw_waiter
    assert retry.stored is not None
    replay = create(api, key="key-1")
    assert replay.get("Idempotent-Replayed") == "true", "the request ran a second time"
    assert replay.content == retry.stored.body
    assert Order.objects.count() == 2
