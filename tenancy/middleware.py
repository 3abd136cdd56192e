"""HTTP adapter for tenancy: reads X-Tenant-Id, checks the caller may act for that
tenant (tenancy.access), and pins the request to it."""

from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_vary_headers

from orders_project.api import exception_handler
from orders_project.credentials import bearer_token
from orders_project.errors import ProblemError
from orders_project.observability import bind_tenant
from tenancy.access import authorize, member_tenants_of
from tenancy.browser import session_tenant
from tenancy.header import TENANT_HEADER, is_tenant_scoped, parse_tenant_id


class TenantMiddleware:
    """Sets `request.tenant_id` on tenant-scoped paths, or answers 400/401/403.

    Every answer on those paths is marked private to the caller (Cache-Control, Vary).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not is_tenant_scoped(request.path_info):
            return self.get_response(request)
        return _private(self._for_tenant(request))

    def _for_tenant(self, request: HttpRequest) -> HttpResponse:
        header = request.headers.get(TENANT_HEADER)
        members = _session_tenants(request)
        if header is None and members is None and _is_browser_page(request):
            return redirect_to_login(request.get_full_path())
        try:
            if header is None and members is not None:
                tenant_id = session_tenant(request, members)
            else:
                tenant_id = parse_tenant_id(header)
            authorize(tenant_id=tenant_id, api_key=_api_key(request), member_tenants=members)
        except ProblemError as error:
            return exception_handler(error, {"request": request})
        request.tenant_id = tenant_id  # type: ignore[attr-defined]
        bind_tenant(tenant_id)
        return self.get_response(request)


# What selects the tenant (and so the answer): a shared cache must never store such an
# answer, and a private one must key it on all of these and revalidate it (ETag, 304).
TENANT_CACHE_CONTROL = "private, no-cache"
TENANT_VARY = ("X-Tenant-Id", "Authorization", "X-Api-Key", "Cookie")


def _private(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = TENANT_CACHE_CONTROL
    patch_vary_headers(response, TENANT_VARY)
    return response


def _api_key(request: HttpRequest) -> str | None:
    return bearer_token(request) or request.headers.get("X-Api-Key") or None


def _session_tenants(request: HttpRequest) -> frozenset[str] | None:
    # Only a request that carries a session cookie can be a browser session; looking
    # at request.user otherwise would cost a session lookup on every API call.
    if settings.SESSION_COOKIE_NAME not in request.COOKIES:
        return None
    user = request.user
    if not user.is_authenticated:
        return None
    return member_tenants_of(user.pk)


def _is_browser_page(request: HttpRequest) -> bool:
    # A person opening /orders in a browser is sent to log in; programs get the 400.
    return request.method == "GET" and "text/html" in request.headers.get("Accept", "")
