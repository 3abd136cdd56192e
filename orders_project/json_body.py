"""The one reading of a JSON body, for the parsers (api.py) and the idempotency
fingerprint alike. Free of Django and DRF imports: the fault suite's Schemathesis hooks
load idempotency.keys, and with it this module, without setting Django up.
"""

import json
from typing import Any


def read_json(data: bytes) -> Any:
    """The one reading of a JSON body: UTF-8, strict, each object member named once.

    Raises ValueError (UnicodeDecodeError for bytes that are not UTF-8) for anything
    else, and RecursionError for nesting too deep to parse.
    """
    return json.loads(
        data.decode("utf-8"), object_pairs_hook=_unique_members, parse_constant=_no_constant
    )


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Python keeps the last of a repeated name, other readers the first: refuse both.
    members: dict[str, Any] = {}
    for name, value in pairs:
        if name in members:
            raise ValueError(f"the object names {name!r} twice")
        members[name] = value
    return members


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
