"""Errors the orders domain raises; `default_code` is the stable name clients see."""

from orders_project.errors import NotFound, ProblemError


class OrderNotFound(NotFound):
    default_detail = "Order not found."


class InvalidStateTransition(ProblemError):
    status_code = 409
    default_code = "invalid_state_transition"
    title = "Invalid state transition"
    default_detail = "The order is not in a state that allows this change."


class StaleVersion(ProblemError):
    status_code = 412
    default_code = "stale_version"
    title = "Stale version"
    default_detail = "The order has changed since the version given in If-Match."


class PreconditionRequired(ProblemError):
    status_code = 428
    default_code = "precondition_required"
    title = "Precondition required"
    default_detail = "This request must be conditional: send If-Match with the order's ETag."


class InvalidCursor(ProblemError):
    status_code = 400
    default_code = "invalid_cursor"
    title = "Invalid cursor"
    default_detail = "The cursor is malformed, tampered with, or belongs to another query."
