"""Parsing the Idempotency-Key header and fingerprinting the request it guards."""

import hashlib
import json
import re

from idempotency.errors import InvalidIdempotencyKey
from orders_project.json_body import read_json

# The key grammar, for the parser below and the OpenAPI pattern alike: 1-255 printable
# ASCII characters (RFC 20), spaces and tabs around ignored, either as an sf-string
# (RFC 8941: `"` and `\` escaped inside) or bare; a bare key cannot both start and end
# with `"`, since that is an sf-string.
_SF_CHARACTER = r'(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])'
IDEMPOTENCY_KEY_PATTERN = (
    r"^[ \t]*(?:"
    rf'"{_SF_CHARACTER}{{1,255}}"'
    r"|[\x21-\x7e]"
    r"|[\x21\x23-\x7e][\x20-\x7e]{0,253}[\x21-\x7e]"
    r'|"[\x20-\x7e]{0,253}[\x21\x23-\x7e]'
    r")[ \t]*$"
)
_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)
_ESCAPED = re.compile(r'\\(["\\])')


def parse_idempotency_key(raw: str) -> str:
    """The key itself: `"abc"` (an sf-string, RFC 8941) and `abc` are the same key."""
    if not _KEY.fullmatch(raw):
        raise InvalidIdempotencyKey()
    value = raw.strip(" \t")
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return _ESCAPED.sub(r"\1", value[1:-1])
    return value


def fingerprint(*, method: str, path: str, body: bytes) -> str:
    """sha256 over method, path and body; JSON bodies are compared after parsing."""
    digest = hashlib.sha256()
    digest.update(method.upper().encode())
    digest.update(b"\n")
    digest.update(path.encode())
    digest.update(b"\n")
    digest.update(canonical_body(body))
    return digest.hexdigest()


def canonical_body(body: bytes) -> bytes:
    """JSON re-serialised with sorted keys and no spaces; an empty body counts as {}.

    JSON is read as the API reads it (UTF-8 only, each member once), so a body the
    parser refuses is compared byte for byte and never stands in for one it accepts.
    """
    if not body.strip():
        return b"{}"
    try:
        parsed = read_json(body)
    except (ValueError, RecursionError):
        return body
    try:
        return json.dumps(parsed, sort_keys=True, separators=(",", ":")).encode()
    except RecursionError:
        return body
