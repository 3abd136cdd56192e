"""Who may act for a tenant: trusted header, API keys, and members' browser sessions."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.http import HttpRequest
from django.test import Client, override_settings

from orders.models import Order
from orders.tests.factories import ConfirmedOrderFactory, OrderFactory
from orders.tests.http import assert_problem, close, create, get, list_orders
from tenancy.access import api_key_create
from tenancy.models import ApiKey

pytestmark = pytest.mark.django_db

api_key_mode = override_settings(TENANT_AUTH_MODE="api-key")
PASSWORD = "maple-harbor-2718"


def keyed(tenant_id: str, secret: str | None) -> Client:
    headers = {"X-Tenant-Id": tenant_id}
    if secret is not None:
        headers["Authorization"] = f"Bearer {secret}"
    return Client(headers=headers)


def test_trusted_header_mode_takes_the_gateway_at_its_word(api: Client) -> None:
    # given: the default mode, and no credentials at all
    order = OrderFactory.create(tenant_id="tenant-1")

    # when / then
    assert get(api, order.pk).status_code == 200


@api_key_mode
def test_api_key_mode_refuses_requests_without_a_valid_key() -> None:
    # given
    order = OrderFactory.create(tenant_id="tenant-1")
    revoked = api_key_create(tenant_id="tenant-1", name="old")
    call_command("revoke_api_key", revoked.key.prefix, stdout=StringIO())
    forged = api_key_create(tenant_id="tenant-1", name="real").secret[:-4] + "abcd"

    # when
    answers = [
        get(keyed("tenant-1", None), order.pk),
        get(keyed("tenant-1", "not-a-key"), order.pk),
        get(keyed("tenant-1", revoked.secret), order.pk),
        get(keyed("tenant-1", forged), order.pk),
    ]

    # then
    for response in answers:
        assert_problem(response, 401, "unauthenticated")
        assert response["WWW-Authenticate"] == "Bearer"


@api_key_mode
def test_a_key_acts_for_its_own_tenant_only() -> None:
    # given
    mine = ConfirmedOrderFactory.create(tenant_id="tenant-1")
    theirs = ConfirmedOrderFactory.create(tenant_id="tenant-2")
    secret = api_key_create(tenant_id="tenant-1", name="svc").secret

    # when
    own = keyed("tenant-1", secret)
    other = keyed("tenant-2", secret)
    listed = list_orders(own).json()
    read_theirs = get(other, theirs.pk)
    close_theirs = close(other, theirs.pk)
    create_there = create(other)

    # then
    assert [item["id"] for item in listed["items"]] == [str(mine.pk)]
    assert close(own, mine.pk).status_code == 200
    for response in (read_theirs, close_theirs, create_there):
        assert_problem(response, 403, "tenant_forbidden")
    theirs.refresh_from_db()
    assert theirs.status == Order.Status.CONFIRMED
    assert not Order.objects.filter(tenant_id="tenant-2").exclude(pk=theirs.pk).exists()


@api_key_mode
def test_the_key_may_also_come_as_x_api_key() -> None:
    secret = api_key_create(tenant_id="tenant-1", name="svc").secret
    response = Client(headers={"X-Tenant-Id": "tenant-1", "X-Api-Key": secret}).get("/orders")
    assert response.status_code == 200


def test_keys_are_stored_as_digests_and_printed_once() -> None:
    # when
    out, err = StringIO(), StringIO()
    call_command("create_api_key", "--tenant=tenant-1", "--name=billing", stdout=out, stderr=err)

    # then
    secret = out.getvalue().strip()
    key = ApiKey.objects.get()
    assert secret.startswith(key.prefix + ".")
    assert secret not in key.digest
    assert key.tenant_id == "tenant-1"
    assert key.prefix in err.getvalue()
    with pytest.raises(CommandError):
        call_command("create_api_key", "--tenant=bad tenant", "--name=x", stdout=StringIO())
    with pytest.raises(CommandError):
        call_command("revoke_api_key", "ordk_nosuchkey", stdout=StringIO())


@pytest.mark.parametrize("mode", ["trusted-header", "api-key"])
def test_a_browser_session_acts_only_for_its_members_tenants(mode: str, monkeypatch) -> None:
    # given
    monkeypatch.setenv("TENANT_USER_PASSWORD", PASSWORD)
    call_command("create_tenant_user", "alice", "--tenant=tenant-1", stdout=StringIO())
    mine = OrderFactory.create(tenant_id="tenant-1")
    theirs = OrderFactory.create(tenant_id="tenant-2")
    browser = Client()
    assert browser.login(request=HttpRequest(), username="alice", password=PASSWORD)

    # when
    with override_settings(TENANT_AUTH_MODE=mode):
        own = browser.get(f"/orders/{mine.pk}", headers={"X-Tenant-Id": "tenant-1"})
        other = browser.get(f"/orders/{theirs.pk}", headers={"X-Tenant-Id": "tenant-2"})

    # then: no API key needed for a member, and no way into another tenant
    assert own.status_code == 200
    assert_problem(other, 403, "tenant_forbidden")


def test_create_tenant_user_needs_a_password_and_valid_tenants(monkeypatch) -> None:
    monkeypatch.delenv("TENANT_USER_PASSWORD", raising=False)
    with pytest.raises(CommandError):
        call_command("create_tenant_user", "bob", "--tenant=tenant-1", stdout=StringIO())
    monkeypatch.setenv("TENANT_USER_PASSWORD", PASSWORD)
    with pytest.raises(CommandError):
        call_command("create_tenant_user", "bob", "--tenant=no way", stdout=StringIO())
    assert not get_user_model().objects.filter(username="bob").exists()


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("a", "too short"),
        ("k3y-9!", "too short"),
        ("password1234", "too common"),
        ("804912375563", "entirely numeric"),
        ("bob.builder.example", "too similar"),
    ],
)
def test_create_tenant_user_refuses_a_weak_password(
    monkeypatch, password: str, reason: str
) -> None:
    # given
    monkeypatch.setenv("TENANT_USER_PASSWORD", password)

    # when
    with pytest.raises(CommandError) as refused:
        call_command(
            "create_tenant_user", "bob.builder.example", "--tenant=tenant-1", stdout=StringIO()
        )

    # then
    assert reason in str(refused.value)
    assert not get_user_model().objects.filter(username="bob.builder.example").exists()


def test_admin_issues_a_key_once_and_revokes_through_the_service() -> None:
    # given
    admin_user = get_user_model().objects.create_superuser("ops", "ops@example.com", "pw")
    client = Client()
    client.force_login(admin_user)

    # when
    added = client.post(
        "/admin/tenancy/apikey/add/", {"tenant_id": "tenant-3", "name": "ci"}, follow=True
    )
    key = ApiKey.objects.get()
    revoked = client.post(
        "/admin/tenancy/apikey/",
        {"action": "revoke", "_selected_action": [str(key.pk)]},
        follow=True,
    )

    # then
    assert added.status_code == 200
    assert f"{key.prefix}." in added.text
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert "Revoked 1 key(s)." in revoked.text


def test_a_logged_in_browser_writes_only_with_its_csrf_token(monkeypatch) -> None:
    # given: a member's browser, which, unlike the test client, checks CSRF
    monkeypatch.setenv("TENANT_USER_PASSWORD", PASSWORD)
    call_command("create_tenant_user", "alice", "--tenant=tenant-1", stdout=StringIO())
    browser = Client(enforce_csrf_checks=True, headers={"X-Tenant-Id": "tenant-1"})
    assert browser.login(request=HttpRequest(), username="alice", password=PASSWORD)
    browser.get("/orders", headers={"Accept": "text/html"})  # the page sets csrftoken
    token = browser.cookies["csrftoken"].value

    # when: a write a forged page could make, then the same write from the page itself
    forged = browser.post(
        "/orders", data={}, content_type="application/json", headers={"Idempotency-Key": "f"}
    )
    created = browser.post(
        "/orders",
        data={},
        content_type="application/json",
        headers={"Idempotency-Key": "p", "X-CSRFToken": token},
    )

    # then
    assert_problem(forged, 403, "forbidden")
    assert "CSRF" in forged.json()["detail"]
    assert created.status_code == 201
    assert Order.objects.filter(tenant_id="tenant-1").count() == 1


def test_a_program_without_cookies_needs_no_csrf_token(api: Client) -> None:
    # given: a service calling with the trusted header, and CSRF checks on
    program = Client(enforce_csrf_checks=True, headers={"X-Tenant-Id": "tenant-1"})

    # when
    created = create(program)

    # then
    assert created.status_code == 201
