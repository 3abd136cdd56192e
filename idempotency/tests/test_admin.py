"""The idempotency keys admin: read-only, found with their tenant, filtered by expiry."""

import pytest
from django.test import Client

from orders.tests.http import create

pytestmark = pytest.mark.django_db


def test_idempotency_keys_are_listed_read_only(admin_client: Client, api: Client) -> None:
    # given
    create(api, key="admin-key")

    # when
    live = admin_client.get("/admin/idempotency/idempotencykey/", {"expired": "no"})
    expired = admin_client.get("/admin/idempotency/idempotencykey/", {"expired": "yes"})

    # then
    assert "admin-key" in live.text
    assert "admin-key" not in expired.text
    assert admin_client.get("/admin/idempotency/idempotencykey/add/").status_code == 403


def test_idempotency_keys_are_found_with_their_tenant(admin_client: Client, api: Client) -> None:
    # given: the same key used by two tenants
    create(api, key="shared-key")
    create(Client(headers={"X-Tenant-Id": "tenant-2"}), key="shared-key")
    create(api, key="other-key")
    keys = "/admin/idempotency/idempotencykey/"

    # when
    by_pair = admin_client.get(keys, {"q": "tenant-2/shared-key"})
    in_tenant = admin_client.get(keys, {"tenant_id": "tenant-1", "q": "shared-key"})
    by_tenant = admin_client.get(keys, {"q": "tenant-1"})
    bare_key = admin_client.get(keys, {"q": "shared-key"})

    # then: "tenant/key" and a key within a tenant's list are that one row
    assert "1 idempotency key" in by_pair.text
    assert "tenant-2" in by_pair.text
    assert "1 idempotency key" in in_tenant.text
    assert "other-key" not in in_tenant.text
    # and anything else is a tenant id
    assert "2 idempotency keys" in by_tenant.text
    assert "0 idempotency keys" in bare_key.text
