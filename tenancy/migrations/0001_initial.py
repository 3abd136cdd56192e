import uuid

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

# The models that moved here from the orders app, by their content type's model name.
MOVED = ("apikey", "tenantmembership")


def _relabel(apps, schema_editor, source, target):
    # Their content types move with them, so the permissions granted on them (and the
    # admin's history of them) still apply. A pair already under `target` (made by a
    # migrate that ran in between) is kept, and the `source` one left to
    # `remove_stale_contenttypes`.
    content_types = apps.get_model("contenttypes", "ContentType").objects
    for model in MOVED:
        if not content_types.filter(app_label=target, model=model).exists():
            content_types.filter(app_label=source, model=model).update(app_label=target)


def forwards(apps, schema_editor):
    _relabel(apps, schema_editor, "orders", "tenancy")


def backwards(apps, schema_editor):
    _relabel(apps, schema_editor, "tenancy", "orders")


class Migration(migrations.Migration):
    # The tables api_keys and tenant_memberships exist already (orders/0002): this
    # migration takes their models into the tenancy app's state and changes nothing in
    # the database but the content types' app label.
    initial = True

    dependencies = [
        ("orders", "0004_move_access_models_to_tenancy"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="ApiKey",
                    fields=[
                        (
                            "id",
                            models.UUIDField(
                                default=uuid.uuid4,
                                editable=False,
                                primary_key=True,
                                serialize=False,
                            ),
                        ),
                        ("tenant_id", models.CharField(max_length=64)),
                        ("name", models.CharField(max_length=100)),
                        ("prefix", models.CharField(max_length=32, unique=True)),
                        ("digest", models.CharField(max_length=64)),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                        ("revoked_at", models.DateTimeField(blank=True, null=True)),
                    ],
                    options={
                        "db_table": "api_keys",
                        "indexes": [
                            models.Index(fields=["tenant_id"], name="api_keys_tenant_idx")
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="TenantMembership",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("tenant_id", models.CharField(max_length=64)),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                        (
                            "user",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="tenant_memberships",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "tenant_memberships",
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("user", "tenant_id"), name="tenant_memberships_uniq"
                            )
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(forwards, backwards, elidable=False),
    ]
