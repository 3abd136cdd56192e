"""Errors the orders domain raises; `code` is the stable name clients see."""

from orders_project.errors import DomainError


class TenantRequired(DomainError):
    code = "tenant_required"
    default_detail = "The X-Tenant-Id header is required."


class InvalidTenant(DomainError):
    code = "invalid_tenant"
    default_detail = "X-Tenant-Id must be 1-64 characters of A-Z a-z 0-9 . _ -"


class OrderNotFound(DomainError):
    code = "not_found"
    default_detail = "Order not found."


class InvalidStateTransition(DomainError):
    code = "invalid_state_transition"
    default_detail = "The order is not in a state that allows this change."


class StaleVersion(DomainError):
    code = "stale_version"
    default_detail = "The order has changed since the version given in If-Match."


class PreconditionRequired(DomainError):
    code = "precondition_required"
    default_detail = "This request must be conditional: send If-Match with the order's ETag."


class InvalidCursor(DomainError):
    code = "invalid_cursor"
    default_detail = "The cursor is malformed, tampered with, or belongs to another query."


class Unauthenticated(DomainError):
    code = "unauthenticated"
    default_detail = "A valid API key is required: send it as `Authorization: Bearer <key>`."


class TenantForbidden(DomainError):
    code = "tenant_forbidden"
    default_detail = "These credentials may not act for this tenant."
