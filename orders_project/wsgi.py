"""WSGI entry point, served by gunicorn (see gunicorn.conf.py)."""

import os
from collections.abc import Iterable
from wsgiref.types import StartResponse, WSGIEnvironment

from django.core.wsgi import get_wsgi_application

from orders_project import tracing

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orders_project.settings")

# Each gunicorn worker imports this module after the fork: its exporter thread (when
# one is configured) is its own. Before get_wsgi_application(), which loads the
# middleware that Django's instrumentation adds to.
tracing.configure_web()

django_application = get_wsgi_application()


def application(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """Django's WSGI handler, refusing an HTTP/1.1 request without Host (400).

    RFC 9112 §3.2 asks a server to refuse one. Django would make up a Host from
    SERVER_NAME (PEP 3333), the address gunicorn is bound to, and serve the request;
    an empty Host is what it refuses (DisallowedHost, then handler400).
    """
    if environ.get("SERVER_PROTOCOL") == "HTTP/1.1":
        environ.setdefault("HTTP_HOST", "")
    return django_application(environ, start_response)
