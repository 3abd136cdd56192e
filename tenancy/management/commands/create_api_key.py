"""manage.py create_api_key: issue a key that acts for one tenant."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tenancy.access import api_key_create
from tenancy.errors import InvalidTenant
from tenancy.header import parse_tenant_id


class Command(BaseCommand):
    help = (
        "Create an API key for TENANT and print it once, on stdout (only its SHA-256 "
        "digest is stored). Callers send it as `Authorization: Bearer <key>` when "
        "TENANT_AUTH_MODE=api-key."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="The tenant id the key acts for.")
        parser.add_argument("--name", required=True, help="Who or what uses the key.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            tenant_id = parse_tenant_id(options["tenant"])
        except InvalidTenant as error:
            raise CommandError(error.detail) from None
        issued = api_key_create(tenant_id=tenant_id, name=options["name"])
        self.stderr.write(
            f"Created key {issued.key.prefix} for tenant {tenant_id}. It is shown only now:"
        )
        self.stdout.write(issued.secret)
