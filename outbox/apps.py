from django.apps import AppConfig


class OutboxConfig(AppConfig):
    """The transactional outbox: events written with the change that caused them."""

    name = "outbox"
    default_auto_field = "django.db.models.BigAutoField"
