from django.db import migrations


class Migration(migrations.Migration):
    # ApiKey and TenantMembership now belong to the tenancy app (tenancy/0001_initial).
    # Their tables and rows stay exactly where they are: this drops the models from the
    # orders app's state only, and tenancy/0001 takes them into its own state.
    dependencies = [
        ("orders", "0003_admin_indexes"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="TenantMembership"),
                migrations.DeleteModel(name="ApiKey"),
            ],
            database_operations=[],
        ),
    ]
