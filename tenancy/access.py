"""Who may act for a tenant: a trusted gateway, an API key, or a member's session.

TENANT_AUTH_MODE chooses how programs are trusted:
- `trusted-header` (default): a gateway in front has authenticated the caller and
  sets X-Tenant-Id; the service takes it as given.
- `api-key`: each request carries a key that belongs to exactly one tenant, and
  X-Tenant-Id must name that tenant.
In both modes a logged-in browser session may act only for the tenants its user is a
member of.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from orders_project.errors import Unauthenticated
from tenancy.errors import TenantForbidden
from tenancy.models import ApiKey
from tenancy.repository import AccessRepository

TRUSTED_HEADER = "trusted-header"
API_KEY = "api-key"
KEY_PREFIX = "ordk_"


@dataclass(frozen=True)
class IssuedKey:
    """A new key: `secret` is shown once and never stored."""

    key: ApiKey
    secret: str


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def api_key_create(*, tenant_id: str, name: str) -> IssuedKey:
    """Issue a key for `tenant_id`; the caller must hand `secret` over now."""
    prefix = KEY_PREFIX + secrets.token_hex(6)
    secret = f"{prefix}.{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        key = AccessRepository().add_key(
            ApiKey(tenant_id=tenant_id, name=name, prefix=prefix, digest=_digest(secret))
        )
    return IssuedKey(key=key, secret=secret)


def api_key_revoke(*, prefix: str) -> bool:
    """Revoke the key with this prefix; False when there is no live key by that name."""
    with transaction.atomic():
        return AccessRepository().revoke_key(prefix, at=timezone.now())


def authorize(
    *, tenant_id: str, api_key: str | None, member_tenants: frozenset[str] | None
) -> None:
    """Raise unless the caller may act for `tenant_id`.

    `member_tenants` is the tenants of a logged-in session user, None without a session.
    """
    if member_tenants is not None:
        if tenant_id not in member_tenants:
            raise TenantForbidden("Your account is not a member of this tenant.")
        return
    if settings.TENANT_AUTH_MODE == TRUSTED_HEADER:
        return
    if not api_key:
        raise Unauthenticated()
    key = _live_key(api_key)
    if key is None:
        raise Unauthenticated("The API key is unknown or revoked.")
    if key.tenant_id != tenant_id:
        raise TenantForbidden("This API key belongs to another tenant.")


def tenant_user_save(
    *, username: str, password: str, tenants: list[str], staff: bool
) -> tuple[AbstractBaseUser, bool]:
    """Create or update a browser login and make it a member of `tenants`.

    The password must pass AUTH_PASSWORD_VALIDATORS (django ValidationError otherwise).
    """
    password_validation.validate_password(password, user=get_user_model()(username=username))
    with transaction.atomic():
        access = AccessRepository()
        user, created = access.save_user(username=username, password=password, staff=staff)
        for tenant_id in tenants:
            access.add_membership(user.pk, tenant_id)
    return user, created


def member_tenants_of(user_id: int) -> frozenset[str]:
    """The tenants a user account may act for in the browser."""
    return frozenset(AccessRepository().tenants_of(user_id))


def _live_key(secret: str) -> ApiKey | None:
    prefix, _, _ = secret.partition(".")
    key = AccessRepository().live_key(prefix)
    if key is None or not hmac.compare_digest(key.digest, _digest(secret)):
        return None
    return key
