"""Errors of tenant resolution; `default_code` is the stable name clients see."""

from orders_project.errors import ProblemError


class TenantRequired(ProblemError):
    status_code = 400
    default_code = "tenant_required"
    title = "Tenant required"
    default_detail = "The X-Tenant-Id header is required."


class InvalidTenant(ProblemError):
    status_code = 400
    default_code = "invalid_tenant"
    title = "Invalid tenant"
    default_detail = "X-Tenant-Id must be 1-64 characters of A-Z a-z 0-9 . _ -"


class TenantForbidden(ProblemError):
    status_code = 403
    default_code = "tenant_forbidden"
    title = "Tenant forbidden"
    default_detail = "These credentials may not act for this tenant."
