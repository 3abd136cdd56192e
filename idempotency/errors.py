"""Errors of the idempotency protocol; `code` is the stable name clients see."""

from orders_project.errors import DomainError


class IdempotencyKeyRequired(DomainError):
    code = "idempotency_key_required"
    default_detail = "This request needs an Idempotency-Key header."


class InvalidIdempotencyKey(DomainError):
    code = "invalid_idempotency_key"
    default_detail = "Idempotency-Key must be 1-255 printable ASCII characters."


class IdempotencyKeyReused(DomainError):
    code = "idempotency_key_reused"
    default_detail = "This Idempotency-Key was already used with a different request."


class IdempotencyKeyInUse(DomainError):
    code = "idempotency_key_in_use"
    default_detail = "A request with this Idempotency-Key is still being processed; retry."
