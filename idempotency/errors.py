"""Errors of the idempotency protocol; `default_code` is the stable name clients see."""

from orders_project.errors import ProblemError


class IdempotencyKeyRequired(ProblemError):
    status_code = 400
    default_code = "idempotency_key_required"
    title = "Idempotency key required"
    default_detail = "This request needs an Idempotency-Key header."


class InvalidIdempotencyKey(ProblemError):
    status_code = 400
    default_code = "invalid_idempotency_key"
    title = "Invalid idempotency key"
    default_detail = "Idempotency-Key must be 1-255 printable ASCII characters."


class IdempotencyKeyReused(ProblemError):
    status_code = 422
    default_code = "idempotency_key_reused"
    title = "Idempotency key reused"
    default_detail = "This Idempotency-Key was already used with a different request."


class IdempotencyKeyInUse(ProblemError):
    status_code = 409
    default_code = "idempotency_key_in_use"
    title = "Idempotency key in use"
    default_detail = "A request with this Idempotency-Key is still being processed; retry."
    headers = {"Retry-After": "1"}
