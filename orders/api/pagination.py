"""Opaque keyset cursors: signed, and bound to the tenant and filters they came from."""

import json
import uuid

from django.core import signing

from orders.errors import InvalidCursor
from orders.repository import Keyset, OrderFilters
from orders.services import Direction, PageCursor
from orders_project.timestamps import format_timestamp, parse_timestamp

MAX_CURSOR_LENGTH = 256


def _salt(tenant_id: str, filters: OrderFilters) -> str:
    # The salt names exactly one (tenant, filters): a cursor signed for any other walk
    # fails its signature check. Instants in one spelling, so equal filters agree.
    bounds = (filters.created_from, filters.created_before)
    walk = [tenant_id, filters.status, *(format_timestamp(b) if b else None for b in bounds)]
    return "orders.cursor:" + json.dumps(walk)


def encode_cursor(cursor: PageCursor, *, tenant_id: str, filters: OrderFilters) -> str:
    """A cursor that only this tenant's walk with these filters will accept."""
    return signing.dumps(
        [cursor.direction.value, format_timestamp(cursor.at.created_at), cursor.at.id.hex],
        salt=_salt(tenant_id, filters),
    )


def decode_cursor(token: str, *, tenant_id: str, filters: OrderFilters) -> PageCursor:
    """The cursor in `token`; InvalidCursor when forged, altered or from another walk.

    Any token that does not decode to what encode_cursor wrote is InvalidCursor.
    """
    # Ours are about 150 characters and never compressed (django.core.signing marks a
    # compressed payload with a leading "."): refusing both before any decoding caps
    # what a cursor can make us inflate, even one signed with a leaked key.
    if len(token) > MAX_CURSOR_LENGTH or token.startswith("."):
        raise InvalidCursor()
    try:
        direction, created_at, order_id = signing.loads(token, salt=_salt(tenant_id, filters))
        if not all(isinstance(part, str) for part in (direction, created_at, order_id)):
            raise InvalidCursor()
        return PageCursor(
            direction=Direction(direction),
            at=Keyset(created_at=parse_timestamp(created_at), id=uuid.UUID(hex=order_id)),
        )
    except (signing.BadSignature, ValueError, TypeError):
        raise InvalidCursor() from None
