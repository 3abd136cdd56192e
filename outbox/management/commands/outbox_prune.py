"""manage.py outbox_prune: delete long-published outbox events."""

import re
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from orders_project.commands import positive_int, progress_bar
from outbox.services import outbox_prune

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def duration(value: str) -> timedelta:
    """`30d`, `12h`, `90m` or `3600s`."""
    match = re.fullmatch(r"(\d+)([smhd])", value.strip())
    if match is None:
        raise ValueError(value)
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


class Command(BaseCommand):
    help = (
        "Delete outbox events published longer ago than --older-than (e.g. 7d, 12h), in "
        "batches of short transactions. Pending and dead events are never touched."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than", type=duration, required=True, help="Age: <n>s, <n>m, <n>h or <n>d."
        )
        parser.add_argument(
            "--batch-size", type=positive_int, default=1000, help="Rows per transaction."
        )
        parser.add_argument(
            "--no-progress", action="store_true", help="No progress bar (none off a terminal)."
        )

    def handle(self, *args: Any, older_than: timedelta, batch_size: int, **options: Any) -> None:
        with progress_bar(
            self.stderr, unit="event", desc="pruned", hidden=options["no_progress"]
        ) as bar:
            deleted = outbox_prune(
                older_than=older_than, batch_size=batch_size, progress=bar.update
            )
        self.stdout.write(f"Pruned {deleted} published event(s) older than {older_than}.")
