"""Browser sessions: which tenant a logged-in member is acting for, and switching it.

Browsers cannot send X-Tenant-Id, so a session acts for the tenant it chose last
(`POST /session/tenant`), or else the first of its user's tenants. Membership is
checked again on every request by tenancy.access.authorize.
"""

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from orders_project.errors import Forbidden
from orders_project.problems import problem_response
from tenancy.access import member_tenants_of
from tenancy.errors import TenantForbidden

# Where sessions already keep their choice: renaming it would forget every one of them.
SESSION_TENANT = "orders.tenant_id"


def session_tenant(request: HttpRequest, members: frozenset[str]) -> str:
    """The tenant this browser session acts for; it must be one of `members`."""
    chosen = request.session.get(SESSION_TENANT)
    if chosen in members:
        return str(chosen)
    if members:
        return min(members)
    raise TenantForbidden("Your account is not a member of any tenant.")


@require_POST
def select_tenant(request: HttpRequest) -> HttpResponse:
    """Switch the session's tenant to the posted `tenant`, then go back to `next`."""
    if not request.user.is_authenticated:
        return problem_response(Forbidden("Log in first."))
    tenant_id = request.POST.get("tenant", "")
    if tenant_id not in member_tenants_of(request.user.pk):
        return problem_response(TenantForbidden("Your account is not a member of that tenant."))
    request.session[SESSION_TENANT] = tenant_id
    target = request.POST.get("next", "/orders")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = "/orders"
    return HttpResponseRedirect(target)
