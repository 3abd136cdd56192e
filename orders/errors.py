"""Errors the orders domain raises; `default_code` is the stable name clients see."""

from django.utils.http import quote_etag

from orders_project.errors import NotFound, ProblemError


class OrderNotFound(NotFound):
    default_detail = "Order not found."


class InvalidStateTransition(ProblemError):
    status_code = 409
    default_code = "invalid_state_transition"
    title = "Invalid state transition"
    default_detail = "The order is not in a state that allows this change."


class StaleVersion(ProblemError):
    """If-Match named another version: the answer names the current one (body and ETag),
    so the client can re-read or retry knowingly."""

    status_code = 412
    default_code = "stale_version"
    title = "Stale version"
    default_detail = "The order has changed since the version given in If-Match."

    def __init__(self, detail: str | None = None, *, current_version: int) -> None:
        self.current_version = current_version
        # The order's ETag, as every response carrying the order spells it.
        super().__init__(detail, headers={"ETag": quote_etag(str(current_version))})

    def body(self) -> dict[str, object]:
        """The problem details, with the order's current version."""
        return {**super().body(), "currentVersion": self.current_version}


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
