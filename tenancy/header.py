"""Which tenant a request acts for, and which requests must say."""

import re

from django.conf import settings

from tenancy.errors import InvalidTenant, TenantRequired

TENANT_HEADER = "X-Tenant-Id"
TENANT_ID_PATTERN = r"[A-Za-z0-9._-]{1,64}"
_TENANT_ID = re.compile(TENANT_ID_PATTERN)


def parse_tenant_id(raw: str | None) -> str:
    """Validate the X-Tenant-Id header value; it is used verbatim as the tenant id.

    An absent header is `tenant_required`; a present but empty one is malformed.
    """
    if raw is None:
        raise TenantRequired()
    if not _TENANT_ID.fullmatch(raw):
        raise InvalidTenant()
    return raw


def is_tenant_scoped(path: str) -> bool:
    """True when requests to `path` act for a tenant (and so need X-Tenant-Id)."""
    return any(
        path == prefix or path.startswith(prefix + "/")
        for prefix in settings.TENANT_SCOPED_PATH_PREFIXES
    )
