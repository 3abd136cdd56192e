"""The bench's middle floor: Django itself, with nothing of this project's.

    gunicorn -c gunicorn.conf.py benchmarks.floor_django:application

Django configured with no apps, no middleware and no database, routing `/healthz` (and
`/readyz`, which the bench polls to know the server is up) to one function view that
returns the body of the app's `GET /healthz`. Served with the same `gunicorn.conf.py`
and worker count as the app, it measures what Django's request handling costs before any
middleware, DRF, ORM or SQL of ours: the floor under every Django app on these cores.
"""

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
