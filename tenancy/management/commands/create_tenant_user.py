"""manage.py create_tenant_user: a login for the browsable API, member of some tenants."""

import os
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from tenancy.access import tenant_user_save
from tenancy.errors import InvalidTenant
from tenancy.header import parse_tenant_id


class Command(BaseCommand):
    help = (
        "Create (or update) USERNAME and make it a member of each --tenant, so it can "
        "log in to the browsable API and act for those tenants only. The password is "
        "read from the TENANT_USER_PASSWORD environment variable."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--tenant", action="append", required=True, help="A tenant id; repeat for more."
        )
        parser.add_argument("--staff", action="store_true", help="May also use the admin.")

    def handle(self, *args: Any, **options: Any) -> None:
        password = os.environ.get("TENANT_USER_PASSWORD")
        if not password:
            raise CommandError("Set TENANT_USER_PASSWORD to the new user's password.")
        try:
            tenants = [parse_tenant_id(tenant) for tenant in options["tenant"]]
        except InvalidTenant as error:
            raise CommandError(error.detail) from None
        try:
            user, created = tenant_user_save(
                username=options["username"],
                password=password,
                tenants=tenants,
                staff=options["staff"],
            )
        except ValidationError as error:
            raise CommandError("The password is refused: " + " ".join(error.messages)) from None
        verb = "Created" if created else "Updated"
        self.stdout.write(f"{verb} {user.get_username()}, member of {', '.join(sorted(tenants))}.")
