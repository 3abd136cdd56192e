from django.apps import AppConfig


class OrdersConfig(AppConfig):
    """Orders: the aggregate, its lifecycle and its HTTP API."""

    name = "orders"
    default_auto_field = "django.db.models.BigAutoField"
