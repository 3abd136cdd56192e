"""WSGI entry point, served by gunicorn (see gunicorn.conf.py)."""

import os

from django.core.wsgi import get_wsgi_application

from orders_project import tracing

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orders_project.settings")

# Each gunicorn worker imports this module after the fork: its exporter thread (when
# one is configured) is its own. Before get_wsgi_application(), which loads the
# middleware that Django's instrumentation adds to.
tracing.configure_web()

application = get_wsgi_application()
