"""The base of every domain error; each app declares its own small subclasses."""

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True)
class FieldError:
    """One invalid input field, named as the client spelt it."""

    field: str
    code: str
    message: str


class DomainError(Exception):
    """An expected failure of a use case; `code` names its problem type."""

    code: ClassVar[str] = "domain_error"
    default_detail: ClassVar[str] = "The request could not be completed."

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail or self.default_detail
        super().__init__(self.detail)


class ValidationFailed(DomainError):
    """Input that breaks a domain rule; carries one entry per offending field."""

    code = "validation_error"
    default_detail = "The request has invalid fields."

    def __init__(self, errors: list[FieldError], detail: str | None = None) -> None:
        self.errors = errors
        super().__init__(detail)
