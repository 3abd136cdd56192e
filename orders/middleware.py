"""HTTP adapter for tenancy: reads X-Tenant-Id and pins the request to its tenant."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from orders.errors import InvalidTenant, TenantRequired
from orders.tenancy import TENANT_HEADER, is_tenant_scoped, parse_tenant_id
from orders_project.observability import bind_tenant
from orders_project.problems import problem_response


class TenantMiddleware:
    """Sets `request.tenant_id` on tenant-scoped paths, or answers 400 problem+json."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if is_tenant_scoped(request.path_info):
            try:
                tenant_id = parse_tenant_id(request.headers.get(TENANT_HEADER))
            except (TenantRequired, InvalidTenant) as error:
                return problem_response(error.code, error.detail)
            request.tenant_id = tenant_id  # type: ignore[attr-defined]
            bind_tenant(tenant_id)
        return self.get_response(request)
