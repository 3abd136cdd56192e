"""Errors the outbox raises. The relay handles them; no client ever sees one."""


class BrokerUnavailable(Exception):
    """The message broker cannot be reached; nothing was sent."""

    def __init__(self, detail: str = "The message broker cannot be reached.") -> None:
        super().__init__(detail)
