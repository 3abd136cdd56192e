"""Schemathesis hooks (SCHEMATHESIS_HOOKS=faults.schemathesis_hooks).

A well-formed X-Tenant-Id is replaced by the run's tenant (FAULTS_ST_TENANT), so that
the stateful phase's create -> get/confirm/close chains stay in one tenant; a missing or
malformed one is left as generated.

A well-formed Idempotency-Key is replaced by a fresh one on every call, as a real client
sends: otherwise Schemathesis reuses one generated key for different requests and gets
422 idempotency_key_reused, which is right but tests nothing. Malformed keys (negative
cases) are sent as generated.
"""

from __future__ import annotations

import os
import re
import uuid
from typing import Any

import schemathesis

from idempotency.keys import IDEMPOTENCY_KEY_PATTERN

_TENANT = re.compile(r"[A-Za-z0-9._-]{1,64}")
_WELL_FORMED = re.compile(IDEMPOTENCY_KEY_PATTERN)


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    headers = case.headers or {}
    tenant = headers.get("X-Tenant-Id")
    if isinstance(tenant, str) and _TENANT.fullmatch(tenant):
        headers["X-Tenant-Id"] = os.environ.get("FAULTS_ST_TENANT", tenant)
    key = headers.get("Idempotency-Key")
    if isinstance(key, str) and _WELL_FORMED.fullmatch(key):
        headers["Idempotency-Key"] = f"st-{uuid.uuid4().hex}"
