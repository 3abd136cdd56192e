"""Parsing the Idempotency-Key header and fingerprinting the request it guards."""

import hashlib
import json
import re

from idempotency.errors import InvalidIdempotencyKey

# Printable ASCII, space included (RFC 20 / VCHAR + SP).
_PRINTABLE = re.compile(r"[\x20-\x7e]{1,255}")


def parse_idempotency_key(raw: str) -> str:
    """The key itself: `"abc"` (an sf-string, RFC 8941) and `abc` are the same key."""
    value = raw.strip(" \t")
    if len(value) >= 2 and value.startswith('"') and value.endswith('"'):
        value = _unescape_sf_string(value[1:-1])
    if not _PRINTABLE.fullmatch(value):
        raise InvalidIdempotencyKey()
    return value


def _unescape_sf_string(inner: str) -> str:
    # Inside an sf-string only \" and \\ are escapes; a lone backslash or quote is malformed.
    out: list[str] = []
    chars = iter(inner)
    for char in chars:
        if char == "\\":
            escaped = next(chars, "")
            if escaped not in ('"', "\\"):
                raise InvalidIdempotencyKey()
            out.append(escaped)
        elif char == '"':
            raise InvalidIdempotencyKey()
        else:
            out.append(char)
    return "".join(out)


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
    """JSON re-serialised with sorted keys and no spaces; an empty body counts as {}."""
    if not body.strip():
        return b"{}"
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return body
    try:
        return json.dumps(parsed, sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, RecursionError):
        return body
