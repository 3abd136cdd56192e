"""ETag, If-Match and If-None-Match for orders, whose entity tag is their version."""

import re

from django.utils.http import parse_etags, quote_etag

from orders.errors import PreconditionRequired

ANY_VERSION = None
_BARE_VERSION = re.compile(r"\d{1,10}")
_TAG_VERSION = re.compile(r'(?:W/)?"(\d{1,10})"')
# No order ever has version 0: a precondition naming something else can never match.
NO_VERSION = 0


def etag_for(version: int) -> str:
    """The ETag header value of an order at `version`."""
    return quote_etag(str(version))


def expected_version(header: str | None, *, required: bool) -> int | None:
    """The version If-Match names; None for `*` (or absent, when optional).

    Accepts 1, "1", W/"1" and *; anything else names no version and so fails with 412.
    """
    if header is None or not header.strip():
        if required:
            raise PreconditionRequired()
        return ANY_VERSION
    value = header.strip()
    if value == "*":
        return ANY_VERSION
    if _BARE_VERSION.fullmatch(value):
        return int(value)
    match = _TAG_VERSION.fullmatch(value)
    return int(match.group(1)) if match else NO_VERSION


def none_match(header: str | None, version: int) -> bool:
    """True when If-None-Match matches the current version (weak comparison)."""
    if header is None:
        return False
    tags = [tag.strip() for tag in header.split(",")]
    if "*" in tags:
        return True
    for tag in parse_etags(header) + [t for t in tags if _BARE_VERSION.fullmatch(t)]:
        bare = tag.removeprefix("W/").strip('"')
        if bare == str(version):
            return True
    return False
