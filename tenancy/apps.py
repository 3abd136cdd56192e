from django.apps import AppConfig


class TenancyConfig(AppConfig):
    """Tenancy: who may act for which tenant (header, API keys, members' sessions)."""

    name = "tenancy"
    default_auto_field = "django.db.models.BigAutoField"
