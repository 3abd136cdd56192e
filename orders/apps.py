from django.apps import AppConfig

from outbox.aggregates import register_aggregate_type


class OrdersConfig(AppConfig):
    """Orders: the aggregate, its lifecycle and its HTTP API."""

    name = "orders"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported here: the services load the models, which need the app registry.
        from orders.services import ORDER_AGGREGATE  # noqa: PLC0415

        register_aggregate_type(ORDER_AGGREGATE)
