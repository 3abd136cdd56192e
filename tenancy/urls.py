"""Browser sessions: choosing the tenant a logged-in member acts for."""

from django.urls import path

from tenancy.browser import select_tenant

urlpatterns = [
    path("session/tenant", select_tenant, name="select-tenant"),
]
