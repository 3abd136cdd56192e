"""URL routes: the orders API, probes, OpenAPI, docs and the admin."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerView

from orders_project import health
from orders_project.metrics import metrics_view

urlpatterns = [
    # The API first: Django tries the patterns in order, and nearly every request is one.
    path("", include("orders.urls")),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("openapi.json", SpectacularJSONAPIView.as_view(), name="openapi"),
    path("docs", SpectacularSwaggerView.as_view(url_name="openapi"), name="docs"),
    path("admin/", admin.site.urls),
    # Browser sessions: log in/out for the browsable API, and choose the tenant.
    path("api-auth/", include("rest_framework.urls")),
    path("", include("tenancy.urls")),
]

handler400 = "orders_project.problems.bad_request"
handler403 = "orders_project.problems.permission_denied"
handler404 = "orders_project.problems.page_not_found"
handler500 = "orders_project.problems.server_error"
