"""The browsable API, with what a person needs to walk an order's lifecycle."""

from typing import Any

from rest_framework.renderers import BrowsableAPIRenderer

from tenancy.access import member_tenants_of


class OrdersBrowsableAPIRenderer(BrowsableAPIRenderer):
    """Adds the session's tenants, and the order or page shown, to the template."""

    template = "orders/browsable_api.html"

    def get_context(
        self, data: Any, accepted_media_type: str | None, renderer_context: Any
    ) -> Any:
        context = super().get_context(data, accepted_media_type, renderer_context)
        request = renderer_context["request"]
        user = request.user
        context["tenant_choices"] = (
            sorted(member_tenants_of(user.pk))
            if user is not None and user.is_authenticated
            else []
        )
        context["current_tenant"] = getattr(request, "tenant_id", None)
        is_dict = isinstance(data, dict)
        context["order"] = data if is_dict and "version" in data and "status" in data else None
        context["order_page"] = data if is_dict and "items" in data else None
        return context
