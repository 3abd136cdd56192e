"""manage.py revoke_api_key: stop a key from acting for its tenant."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tenancy.access import api_key_revoke


class Command(BaseCommand):
    help = "Revoke the API key whose public prefix (ordk_…, shown in the admin) is PREFIX."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("prefix", help="The key's prefix: the part before the dot.")

    def handle(self, *args: Any, **options: Any) -> None:
        prefix = options["prefix"].partition(".")[0]
        if not api_key_revoke(prefix=prefix):
            raise CommandError(f"No live API key has the prefix {prefix!r}.")
        self.stdout.write(f"Revoked {prefix}.")
