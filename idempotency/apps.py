from django.apps import AppConfig


class IdempotencyConfig(AppConfig):
    """Idempotency keys: replay of completed writes, one execution per key."""

    name = "idempotency"
    default_auto_field = "django.db.models.BigAutoField"
