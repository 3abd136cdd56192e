"""manage.py purge_idempotency_keys: delete keys past their retention."""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from idempotency.services import idempotency_keys_purge
from orders_project.commands import progress_bar


class Command(BaseCommand):
    help = (
        "Delete idempotency keys whose retention (IDEMPOTENCY_KEY_TTL_SECONDS, 24 h by "
        "default) has passed, in batches, so a retry with such a key runs again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch-size", type=int, default=1000, help="Rows deleted per transaction."
        )
        parser.add_argument(
            "--no-progress", action="store_true", help="No progress bar (none off a terminal)."
        )

    def handle(self, *args: Any, batch_size: int, **options: Any) -> None:
        if batch_size < 1:
            self.stderr.write("--batch-size must be at least 1")
            raise SystemExit(2)
        with progress_bar(
            self.stderr, unit="key", desc="purged", hidden=options["no_progress"]
        ) as bar:
            deleted = idempotency_keys_purge(batch_size=batch_size, progress=bar.update)
        self.stdout.write(f"Purged {deleted} expired idempotency key(s).")
