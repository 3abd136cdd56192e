"""A database from before tenancy was an app keeps its API keys and memberships, usable."""

import hashlib
import uuid
from collections.abc import Iterator

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import connection
from django.test import Client, override_settings

# The last orders migration that still had ApiKey and TenantMembership in its state.
BEFORE_THE_MOVE = ("orders", "0003_admin_indexes")
PREFIX = "ordk_0123456789ab"
SECRET = f"{PREFIX}.issued-before-tenancy-was-an-app"


@pytest.fixture
def database_before_the_move() -> Iterator[None]:
    """The database migrated only as far as BEFORE_THE_MOVE; fully migrated afterwards."""
    call_command("migrate", *BEFORE_THE_MOVE, verbosity=0)
    try:
        yield
    finally:
        call_command("migrate", verbosity=0)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("database_before_the_move")
def test_keys_memberships_and_permissions_survive_the_move_to_tenancy() -> None:
    # given: a key, a member and a permission on keys, as the orders app stored them.
    # Plain SQL: the code no longer has the models as they were at that migration.
    user = get_user_model().objects.create_user("alice", password="unused-here")
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO api_keys (id, tenant_id, name, prefix, digest, created_at)"
            " VALUES (%s, 'tenant-1', 'billing', %s, %s, now())",
            [uuid.uuid4(), PREFIX, hashlib.sha256(SECRET.encode()).hexdigest()],
        )
        cursor.execute(
            "INSERT INTO tenant_memberships (user_id, tenant_id, created_at)"
            " VALUES (%s, 'tenant-1', now())",
            [user.pk],
        )
    user.user_permissions.add(
        Permission.objects.get(content_type__app_label="orders", codename="view_apikey")
    )

    # when
    call_command("migrate", verbosity=0)

    # then: the key still authenticates for its tenant, only for it
    with override_settings(TENANT_AUTH_MODE="api-key"):
        keyed = Client(headers={"Authorization": f"Bearer {SECRET}"})
        assert keyed.get("/orders", headers={"X-Tenant-Id": "tenant-1"}).status_code == 200
        assert keyed.get("/orders", headers={"X-Tenant-Id": "tenant-2"}).status_code == 403
    # and the member still acts for her tenant in the browser, only for it
    browser = Client()
    browser.force_login(user)
    assert browser.get("/orders", headers={"X-Tenant-Id": "tenant-1"}).status_code == 200
    assert browser.get("/orders", headers={"X-Tenant-Id": "tenant-2"}).status_code == 403
    # and her permission now names the tenancy app's model, with nothing left behind
    assert get_user_model().objects.get(pk=user.pk).has_perm("tenancy.view_apikey")
    assert not ContentType.objects.filter(app_label="orders", model="apikey").exists()
