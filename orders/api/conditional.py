"""ETag, If-Match and If-None-Match for orders, whose entity tag is their version."""

import re

from django.utils.http import parse_etags, quote_etag

from orders.errors import PreconditionRequired

ANY_VERSION = None
_BARE_VERSION = re.compile(r"[0-9]{1,10}")
# An If-Match member that names a version: "1", W/"1", or 1 as the contract allows.
_VERSION_MEMBER = re.compile(r'(?:W/)?"([0-9]{1,10})"|([0-9]{1,10})')
# A list member runs to the next comma outside quotes: an entity tag may hold commas.
_MEMBER = re.compile(r'(?:[^,"]|"[^"]*"?)+')


def etag_for(version: int) -> str:
    """The ETag header value of an order at `version`."""
    return quote_etag(str(version))


def expected_versions(header: str | None, *, required: bool) -> frozenset[int] | None:
    """The versions If-Match names; None for `*` (or absent, when optional).

    A list holds when any member names the current version (RFC 9110 §13.1.1). Each
    member is 1, "1" or W/"1"; any other member names no version, so a list of only
    those names none and fails with 412.
    """
    if header is None or not header.strip():
        if required:
            raise PreconditionRequired()
        return ANY_VERSION
    if header.strip() == "*":
        return ANY_VERSION
    versions = set()
    for member in _MEMBER.findall(header):
        match = _VERSION_MEMBER.fullmatch(member.strip())
        if match:
            versions.add(int(match[1] or match[2]))
    return frozenset(versions)


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
