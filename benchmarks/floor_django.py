"""The bench's middle floor: Django with no apps, middleware or database, answering
`/healthz` (and `/readyz`, which the bench polls) as the app does. Served like the app, it
is what Django's request handling costs before anything of ours: the floor under any
Django app on these cores."""

from django.conf import settings

settings.configure(
    DEBUG=False,
    ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=[],
    INSTALLED_APPS=[],
    DATABASES={},
    SECRET_KEY="floor-django-serves-no-secrets-" + "x" * 32,
    USE_TZ=True,
)

import django  # noqa: E402

django.setup()

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import HttpRequest, HttpResponse  # noqa: E402
from django.urls import path  # noqa: E402


def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b'{"status":"ok"}', content_type="application/json")


urlpatterns = [path("healthz", healthz), path("readyz", healthz)]

application = get_wsgi_application()
