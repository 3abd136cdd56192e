from django.apps import AppConfig
from django.db.backends.signals import connection_created

from orders_project.db.limits import check_new_session


class OrdersProjectConfig(AppConfig):
    """The project's shared plumbing; it has no models."""

    name = "orders_project"
    verbose_name = "Orders project"

    def ready(self) -> None:
        connection_created.connect(check_new_session, dispatch_uid="orders_project.db")
