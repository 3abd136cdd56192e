"""Idempotency-Key over HTTP: required on create, honoured on confirm and close."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.http import HttpRequest
from django.test import Client
from django.utils import timezone

from idempotency.models import IdempotencyKey
from idempotency.tests.helpers import order_ids
from orders import services
from orders.models import Order
from orders.tests.factories import ConfirmedOrderFactory, OrderFactory
from orders.tests.http import (
    CURL_FORM,
    JSON,
    TENANT,
    assert_problem,
    close,
    confirm,
    create,
    db_state,
)
from outbox.models import OutboxEvent

pytestmark = pytest.mark.django_db


def current(order):
    return Order.objects.get(pk=order.pk)


def replay_headers(response):
    return {name: response.get(name) for name in ("Content-Type", "Location", "ETag")}


class TestKeyRequiredOnCreate:
    """POST /orders needs a well-formed key; the order is not created without one."""

    @pytest.mark.parametrize(
        ("key", "code"),
        [
            pytest.param(None, "idempotency_key_required", id="missing"),
            *(
                pytest.param(key, "invalid_idempotency_key", id=name)
                for name, key in {
                    "256-chars": "k" * 256,
                    "256-chars-quoted": '"' + "k" * 256 + '"',
                    "non-ascii": "cl\u00e9-123",
                    "control-char": "key\x01123",
                    "tab": "key\t123",
                    "empty": "",
                    "empty-quoted": '""',
                    "bad-sf-string-escape": r'"bad \n escape"',
                }.items()
            ),
        ],
    )
    def test_create_without_a_well_formed_key_is_refused_and_creates_nothing(self, api, key, code):
        # when
        response = create(api, key=key)

        # then
        assert_problem(response, 400, code)
        assert not Order.objects.exists()
        assert not IdempotencyKey.objects.exists()

    def test_255_character_key_is_accepted(self, api):
        # given the longest allowed key
        key = "k" * 255

        # when
        response = create(api, key=key)

        # then
        assert response.status_code == 201
        assert IdempotencyKey.objects.get().key == key

    @pytest.mark.parametrize(
        ("tenant_headers", "code", "key"),
        [
            *(({}, "tenant_required", key) for key in [None, "k" * 256, "key-1"]),
            *(
                ({"X-Tenant-Id": "not a tenant!"}, "invalid_tenant", key)
                for key in [None, "k" * 256]
            ),
        ],
    )
    def test_a_missing_or_malformed_tenant_takes_precedence(self, tenant_headers, code, key):
        # given a client that names no tenant, or a malformed one
        client = Client(headers=tenant_headers)

        # when
        response = create(client, key=key)

        # then
        assert_problem(response, 400, code)
        assert not Order.objects.exists()
        assert not IdempotencyKey.objects.exists()

    def test_key_is_optional_on_confirm_and_close(self, api):
        # given
        order = OrderFactory.create()

        # when
        confirmed = confirm(api, order.pk)
        closed = close(api, order.pk)

        # then
        assert (confirmed.status_code, closed.status_code) == (200, 200)
        assert current(order).status == Order.Status.CLOSED
        assert not IdempotencyKey.objects.exists()

    @pytest.mark.parametrize(
        ("make_order", "write"),
        [
            pytest.param(OrderFactory, confirm, id="confirm"),
            pytest.param(ConfirmedOrderFactory, close, id="close"),
        ],
    )
    def test_malformed_key_on_confirm_or_close_is_refused_and_changes_nothing(
        self, api, make_order, write
    ):
        # given
        order = make_order.create()
        before = db_state()

        # when
        response = write(api, order.pk, key="k" * 256)

        # then
        assert_problem(response, 400, "invalid_idempotency_key")
        assert db_state() == before
        assert not IdempotencyKey.objects.exists()


class TestReplay:
    """Same key, same request: the stored response again, byte for byte, nothing new."""

    def test_retry_replays_the_first_response_byte_for_byte(self, api):
        # given
        first = create(api, key="key-1")

        # when
        retry = create(api, key="key-1")

        # then
        assert (first.status_code, retry.status_code) == (201, 201)
        assert retry.content == first.content
        assert replay_headers(retry) == replay_headers(first)
        assert first["Location"] == f"/orders/{first.json()['id']}"
        assert first["ETag"] == '"1"'
        assert first["Content-Type"] == JSON

    def test_only_the_replay_says_it_is_a_replay(self, api):
        # given
        first = create(api, key="key-1")

        # when
        retry = create(api, key="key-1")

        # then
        assert not first.has_header("Idempotent-Replayed")
        assert retry["Idempotent-Replayed"] == "true"

    def test_retries_create_exactly_one_order(self, api):
        # given
        first = create(api, key="key-1")

        # when
        for _ in range(3):
            create(api, key="key-1")

        # then
        assert order_ids() == [first.json()["id"]]
        assert IdempotencyKey.objects.count() == 1

    def test_replay_is_one_select_and_writes_nothing(self, api, django_assert_num_queries):
        # given
        first = create(api, key="key-1")

        # when
        with django_assert_num_queries(1) as captured:
            retry = create(api, key="key-1")

        # then
        assert retry.content == first.content
        assert captured.captured_queries[0]["sql"].lstrip().upper().startswith("SELECT")

    @pytest.mark.parametrize(
        ("first", "retry"),
        [
            pytest.param({"key": '"key-1"'}, {"key": "key-1"}, id="quoted-and-bare-key"),
            pytest.param(
                {"body": b'{"note": "gift", "channel": "web"}'},
                {"body": b'{\n  "channel":"web",\n  "note":"gift"\n}'},
                id="json-whitespace-and-key-order",
            ),
            # a create sent as `curl -d "{}"` does: JSON in a form-encoded body
            pytest.param(
                {"body": b"{}", "content_type": CURL_FORM},
                {"body": b"{}", "content_type": CURL_FORM},
                id="curl-form-encoded",
            ),
            pytest.param({"body": b""}, {"body": b"{}"}, id="empty-body-and-empty-object"),
        ],
    )
    def test_the_same_request_written_differently_is_replayed(self, api, first, retry):
        # given
        original = create(api, **{"key": "key-1", **first})

        # when
        again = create(api, **{"key": "key-1", **retry})

        # then
        assert original.status_code == 201
        assert again.status_code == 201
        assert again["Idempotent-Replayed"] == "true"
        assert again.content == original.content
        assert Order.objects.count() == 1

    def test_replay_is_the_original_response_even_after_the_order_moved_on(self, api):
        # given an order created with a key, then confirmed
        first = create(api, key="key-1")
        order_id = first.json()["id"]
        assert confirm(api, order_id).status_code == 200

        # when
        retry = create(api, key="key-1")

        # then the stored draft at version 1 comes back, not the current state
        assert retry.content == first.content
        assert retry.json()["status"] == "draft"
        assert retry["ETag"] == '"1"'
        assert Order.objects.get().status == Order.Status.CONFIRMED

    def test_same_key_on_another_tenant_is_a_different_key(self, api, client_for):
        # given
        first = create(api, key="key-1")
        other_tenant = client_for("tenant-2")

        # when
        other = create(other_tenant, key="key-1")

        # then
        assert other.status_code == 201
        assert not other.has_header("Idempotent-Replayed")
        assert other.json()["tenantId"] == "tenant-2"
        assert other.json()["id"] != first.json()["id"]
        assert Order.objects.filter(tenant_id=TENANT).count() == 1
        assert Order.objects.filter(tenant_id="tenant-2").count() == 1

    def test_each_tenant_replays_its_own_response_for_the_same_key(self, api, client_for):
        # given: both tenants completed a request under the same key
        first = create(api, key="key-1")
        other_tenant = client_for("tenant-2")
        other = create(other_tenant, key="key-1")

        # when
        retry = create(api, key="key-1")
        other_retry = create(other_tenant, key="key-1")

        # then: storing tenant-2's response touched nothing of tenant-1's
        assert retry.content == first.content
        assert retry["Location"] == first["Location"]
        assert other_retry.content == other.content
        assert other_retry["Location"] == other["Location"]


class TestReplayPassesTheChecksOfAFreshRequest:
    """A replay is answered only where the same request, fresh, would have been served."""

    PASSWORD = "maple-harbor-2718"

    def logged_in_browser(self, monkeypatch) -> tuple[Client, str]:
        """A member's browser, which, unlike the test client, checks CSRF; and its token."""
        monkeypatch.setenv("TENANT_USER_PASSWORD", self.PASSWORD)
        call_command("create_tenant_user", "alice", f"--tenant={TENANT}", stdout=StringIO())
        browser = Client(enforce_csrf_checks=True, headers={"X-Tenant-Id": TENANT})
        assert browser.login(request=HttpRequest(), username="alice", password=self.PASSWORD)
        browser.get("/orders", headers={"Accept": "text/html"})  # the page sets csrftoken
        return browser, browser.cookies["csrftoken"].value

    def test_a_session_replay_without_the_csrf_token_is_forbidden(self, monkeypatch):
        # given: the member's page created an order with a key and its CSRF token
        browser, token = self.logged_in_browser(monkeypatch)
        first = browser.post(
            "/orders",
            data={},
            content_type=JSON,
            headers={"Idempotency-Key": "key-1", "X-CSRFToken": token},
        )
        assert first.status_code == 201

        # when: a forged page sends the same request, key and cookies included, no token
        forged = browser.post(
            "/orders", data={}, content_type=JSON, headers={"Idempotency-Key": "key-1"}
        )

        # then: refused as the first request would have been, without the stored order
        assert_problem(forged, 403, "forbidden")
        assert "CSRF" in forged.json()["detail"]
        assert not forged.has_header("Idempotent-Replayed")
        assert first.json()["id"].encode() not in forged.content
        assert Order.objects.count() == 1

    def test_a_session_retry_with_the_csrf_token_is_replayed(self, monkeypatch):
        # given
        browser, token = self.logged_in_browser(monkeypatch)
        headers = {"Idempotency-Key": "key-1", "X-CSRFToken": token}
        first = browser.post("/orders", data={}, content_type=JSON, headers=headers)

        # when
        retry = browser.post("/orders", data={}, content_type=JSON, headers=headers)

        # then
        assert retry.status_code == 201
        assert retry["Idempotent-Replayed"] == "true"
        assert retry.content == first.content
        assert Order.objects.count() == 1

    def test_a_program_without_a_session_cookie_is_replayed_without_a_csrf_token(self):
        # given: a program calling with the trusted header, with CSRF checks on
        program = Client(enforce_csrf_checks=True, headers={"X-Tenant-Id": TENANT})
        first = create(program, key="key-1")

        # when
        retry = create(program, key="key-1")

        # then
        assert (first.status_code, retry.status_code) == (201, 201)
        assert retry["Idempotent-Replayed"] == "true"
        assert retry.content == first.content

    @pytest.mark.parametrize("charset", ["latin-1", "cp500", "utf-32"])
    def test_a_retry_in_another_charset_is_refused_not_replayed(self, api, charset):
        # given: a create that succeeded with its key
        assert create(api, key="charset-retry").status_code == 201
        before = db_state()
        # when: the same bytes come again with the same key, labelled another charset
        retry = create(api, key="charset-retry", content_type=f"{JSON}; charset={charset}")
        # then: refused as the same request, fresh, would be, and nothing changed
        assert_problem(retry, 415, "unsupported_media_type")
        assert not retry.has_header("Idempotent-Replayed")
        assert db_state() == before


class TestReuse:
    """Same key, different request: 422 idempotency_key_reused, nothing changes."""

    def test_same_key_with_a_different_body_is_refused(self, api):
        # given
        first = create(api, key="key-1", body=b"{}")

        # when
        reused = create(api, key="key-1", body=b'{"note": "another order"}')

        # then
        assert_problem(reused, 422, "idempotency_key_reused")
        assert not reused.has_header("Idempotent-Replayed")
        assert Order.objects.count() == 1
        assert create(api, key="key-1", body=b"{}").content == first.content

    def test_key_of_a_create_cannot_close_an_order(self, api):
        # given a key used to create an order, and a confirmed order
        create(api, key="key-1")
        order = ConfirmedOrderFactory.create()

        # when
        reused = close(api, order.pk, key="key-1")

        # then
        assert_problem(reused, 422, "idempotency_key_reused")
        assert (current(order).status, current(order).version) == (Order.Status.CONFIRMED, 2)
        assert not OutboxEvent.objects.exists()

    def test_key_of_one_close_cannot_close_another_order(self, api):
        # given
        one, other = ConfirmedOrderFactory.create(), ConfirmedOrderFactory.create()
        assert close(api, one.pk, key="close-1").status_code == 200

        # when
        reused = close(api, other.pk, key="close-1")

        # then
        assert_problem(reused, 422, "idempotency_key_reused")
        assert current(other).status == Order.Status.CONFIRMED
        assert OutboxEvent.objects.filter(aggregate_id=other.pk).count() == 0

    def test_same_key_with_a_different_total_is_refused(self, api):
        # given
        order = OrderFactory.create()
        assert (
            confirm(api, order.pk, key="confirm-1", body=b'{"totalCents": 500}').status_code == 200
        )

        # when
        reused = confirm(api, order.pk, key="confirm-1", body=b'{"totalCents": 900}')

        # then
        assert_problem(reused, 422, "idempotency_key_reused")
        assert current(order).total_cents == 500


class TestOrderIdSpelling:
    """A retry naming its order by another spelling of the id is a 404, never a 422."""

    @pytest.mark.parametrize(
        "spell",
        [
            pytest.param(str.upper, id="upper-case"),
            pytest.param(lambda order_id: order_id.replace("-", ""), id="no-hyphens"),
            pytest.param(lambda order_id: f"{{{order_id}}}", id="braces"),
            pytest.param(lambda order_id: f"urn:uuid:{order_id}", id="urn"),
        ],
    )
    def test_a_retry_spelling_the_id_otherwise_is_not_found_and_changes_nothing(self, api, spell):
        # given: a keyed close that succeeded
        order = ConfirmedOrderFactory.create()
        first = close(api, order.pk, key="close-1")
        assert first.status_code == 200

        # when: the client retries it, naming the order another way
        retry = close(api, spell(str(order.pk)), key="close-1")

        # then
        assert_problem(retry, 404, "not_found")
        assert current(order).version == 3
        assert OutboxEvent.objects.filter(aggregate_id=order.pk).count() == 1
        assert close(api, order.pk, key="close-1").content == first.content

    def test_a_first_request_spelling_the_id_otherwise_leaves_the_key_unused(self, api):
        # given: a keyed close naming the order in upper case
        order = ConfirmedOrderFactory.create()
        refused = close(api, str(order.pk).upper(), key="close-1")
        assert_problem(refused, 404, "not_found")

        # when: the client retries, naming it as the API wrote it
        retry = close(api, order.pk, key="close-1")

        # then
        assert retry.status_code == 200
        assert not retry.has_header("Idempotent-Replayed")
        assert current(order).status == Order.Status.CLOSED


class TestKeyedConfirmAndClose:
    """A retried confirm or close replays its first answer instead of failing."""

    def test_retried_confirm_replays_200_though_a_fresh_confirm_is_refused(self, api):
        # given a confirm that succeeded and moved the order to version 2
        order = OrderFactory.create()
        first = confirm(api, order.pk, key="confirm-1", total=500, if_match="1")
        assert first.status_code == 200
        fresh = confirm(api, order.pk, key="confirm-2", total=500, if_match="1")
        assert_problem(fresh, 412, "stale_version")

        # when the client retries the first confirm
        retry = confirm(api, order.pk, key="confirm-1", total=500, if_match="1")

        # then
        assert retry.status_code == 200
        assert retry["Idempotent-Replayed"] == "true"
        assert retry.content == first.content
        assert retry["ETag"] == first["ETag"] == '"2"'
        assert (current(order).version, current(order).total_cents) == (2, 500)

    def test_retried_close_replays_and_writes_one_outbox_event(self, api):
        # given
        order = ConfirmedOrderFactory.create()
        first = close(api, order.pk, key="close-1")
        assert first.status_code == 200

        # when
        retries = [close(api, order.pk, key="close-1") for _ in range(3)]

        # then
        assert {r.status_code for r in retries} == {200}
        assert {r.content for r in retries} == {first.content}
        assert all(r["Idempotent-Replayed"] == "true" for r in retries)
        assert OutboxEvent.objects.filter(aggregate_id=order.pk).count() == 1
        assert current(order).version == 3


class TestFailureLeavesKeyUnused:
    """A request that fails stores nothing: the client may retry with the same key."""

    def test_stale_confirm_stores_no_key_and_its_retry_runs(self, api):
        # given a confirm refused as stale (the order is at version 1)
        order = OrderFactory.create()
        stale = confirm(api, order.pk, key="confirm-1", if_match="2")
        assert stale.status_code == 412
        assert not IdempotencyKey.objects.exists()

        # when the client retries the same request with the version it now knows
        retry = confirm(api, order.pk, key="confirm-1", if_match="1")

        # then it runs instead of replaying the 412
        assert retry.status_code == 200
        assert not retry.has_header("Idempotent-Replayed")
        assert (current(order).status, current(order).version) == (Order.Status.CONFIRMED, 2)

    def test_invalid_transition_stores_no_key_and_the_same_request_later_succeeds(self, api):
        # given a close refused because the order is still a draft
        order = OrderFactory.create()
        refused = close(api, order.pk, key="close-1")
        assert_problem(refused, 409, "invalid_state_transition")
        assert not IdempotencyKey.objects.exists()
        services.order_confirm(
            tenant_id=TENANT, order_id=order.pk, total_cents=500, expected_version=1
        )

        # when the very same request is retried
        retry = close(api, order.pk, key="close-1")

        # then
        assert retry.status_code == 200
        assert not retry.has_header("Idempotent-Replayed")
        assert current(order).status == Order.Status.CLOSED
        assert OutboxEvent.objects.filter(aggregate_id=order.pk).count() == 1

    def test_invalid_body_stores_no_key_and_the_corrected_request_may_use_it(self, api):
        # given
        order = OrderFactory.create()
        invalid = confirm(api, order.pk, key="confirm-1", body=b'{"totalCents": "lots"}')
        assert_problem(invalid, 400, "validation_error")
        assert not IdempotencyKey.objects.exists()

        # when
        corrected = confirm(api, order.pk, key="confirm-1", body=b'{"totalCents": 500}')

        # then
        assert corrected.status_code == 200
        assert current(order).total_cents == 500

    def test_unknown_order_does_not_use_up_the_key(self, api):
        # given
        missing = close(api, "00000000-0000-4000-8000-000000000000", key="key-1")
        assert missing.status_code == 404

        # when
        created = create(api, key="key-1")

        # then
        assert created.status_code == 201
        assert not created.has_header("Idempotent-Replayed")

    def test_server_error_rolls_back_the_request_and_leaves_the_key_unused(self, api, monkeypatch):
        # given a create that writes its order and then fails
        real_create = services.order_create

        def create_then_fail(*, tenant_id):
            real_create(tenant_id=tenant_id)
            raise RuntimeError("boom")

        monkeypatch.setattr(services, "order_create", create_then_fail)
        failed = create(api, key="key-1")
        monkeypatch.undo()

        # when
        retry = create(api, key="key-1")

        # then
        assert_problem(failed, 500, "internal_error")
        assert retry.status_code == 201
        assert not retry.has_header("Idempotent-Replayed")
        assert order_ids() == [retry.json()["id"]]


class TestMalformedBodies:
    """A keyed request with a body it cannot use is refused cleanly and uses no key."""

    @pytest.mark.parametrize(
        "body",
        [
            pytest.param(b"[" * 30_000 + b"]" * 30_000, id="nested-too-deeply"),
            pytest.param(b'{"totalCents": 5', id="truncated"),
            pytest.param(b'\xff\xfe{"totalCents": 5}', id="not-utf-8"),
            pytest.param(b'{"totalCents": ' + b"1" * 5000 + b"}", id="huge-number"),
        ],
    )
    def test_malformed_json_is_400_and_the_key_stays_free(self, api, body):
        # given
        order = OrderFactory.create()

        # when
        malformed = confirm(api, order.pk, key="confirm-1", body=body)

        # then
        assert_problem(malformed, 400, "malformed_json")
        assert not IdempotencyKey.objects.exists()
        assert confirm(api, order.pk, key="confirm-1").status_code == 200

    def test_oversized_body_is_413_and_creates_nothing(self, api):
        # given a body over REQUEST_MAX_BODY_BYTES (64 KiB)
        body = b'{"note": "' + b"x" * 70_000 + b'"}'

        # when
        response = create(api, key="key-1", body=body)

        # then
        assert_problem(response, 413, "payload_too_large")
        assert not Order.objects.exists()
        assert not IdempotencyKey.objects.exists()


class TestExpiry:
    """After its retention a key is free again."""

    def expire(self, key):
        IdempotencyKey.objects.filter(key=key).update(
            expires_at=timezone.now() - timedelta(seconds=1)
        )

    def test_keys_are_kept_for_the_configured_time(self, api, settings):
        # given
        settings.IDEMPOTENCY_KEY_TTL_SECONDS = 90

        # when
        create(api, key="key-1")

        # then
        stored = IdempotencyKey.objects.get()
        assert stored.expires_at - stored.created_at == timedelta(seconds=90)

    def test_keys_are_kept_24_hours_by_default(self, api):
        # given the default settings

        # when
        create(api, key="key-1")

        # then
        stored = IdempotencyKey.objects.get()
        assert stored.expires_at - stored.created_at == timedelta(hours=24)

    def test_expired_key_runs_again_and_takes_over_the_row(self, api):
        # given
        first = create(api, key="key-1")
        self.expire("key-1")

        # when
        again = create(api, key="key-1")

        # then
        assert again.status_code == 201
        assert not again.has_header("Idempotent-Replayed")
        assert again.json()["id"] != first.json()["id"]
        assert Order.objects.count() == 2
        stored = IdempotencyKey.objects.get()
        assert stored.expires_at > timezone.now() + timedelta(hours=23)
        assert stored.response_body is not None
        assert bytes(stored.response_body) == again.content
        assert create(api, key="key-1").content == again.content

    def test_expired_key_may_be_used_for_a_different_request(self, api):
        # given
        create(api, key="key-1", body=b"{}")
        self.expire("key-1")

        # when
        other = create(api, key="key-1", body=b'{"note": "new"}')

        # then
        assert other.status_code == 201
        assert Order.objects.count() == 2
