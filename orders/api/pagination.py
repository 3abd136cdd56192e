"""Opaque keyset cursors: signed, and bound to the tenant and filter they came from."""

import uuid

from django.core import signing

from orders.errors import InvalidCursor
from orders.repository import Keyset
from orders_project.timestamps import format_timestamp, parse_timestamp

MAX_CURSOR_LENGTH = 256


def _salt(tenant_id: str, status: str | None) -> str:
    # Tenant ids cannot contain ":", so the salt names exactly one (tenant, filter).
    return f"orders.cursor:{tenant_id}:{status or ''}"


def encode_cursor(keyset: Keyset, *, tenant_id: str, status: str | None) -> str:
    """A cursor that only this tenant's walk with this filter will accept."""
    return signing.dumps(
        [format_timestamp(keyset.created_at), keyset.id.hex],
        salt=_salt(tenant_id, status),
    )


def decode_cursor(cursor: str, *, tenant_id: str, status: str | None) -> Keyset:
    """The keyset in `cursor`; InvalidCursor when forged, altered or from another walk.

    Any cursor that does not decode to what encode_cursor wrote is InvalidCursor.
    """
    # Ours are about 140 characters and never compressed (django.core.signing marks a
    # compressed payload with a leading "."): refusing both before any decoding caps
    # what a cursor can make us inflate, even one signed with a leaked key.
    if len(cursor) > MAX_CURSOR_LENGTH or cursor.startswith("."):
        raise InvalidCursor()
    try:
        created_at, order_id = signing.loads(cursor, salt=_salt(tenant_id, status))
        if not (isinstance(created_at, str) and isinstance(order_id, str)):
            raise InvalidCursor()
        return Keyset(created_at=parse_timestamp(created_at), id=uuid.UUID(hex=order_id))
    except (signing.BadSignature, ValueError, TypeError):
        raise InvalidCursor() from None
