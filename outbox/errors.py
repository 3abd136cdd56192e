"""Errors the outbox raises; `code` is the stable name operators and logs see."""

from orders_project.errors import DomainError


class BrokerUnavailable(DomainError):
    code = "broker_unavailable"
    default_detail = "The message broker cannot be reached."
