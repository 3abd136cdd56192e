"""manage.py outbox_requeue: give dead outbox events another set of attempts."""

import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from orders_project.commands import positive_int, progress_bar
from outbox.services import outbox_requeue


class Command(BaseCommand):
    help = (
        "Put dead outbox events back in the relay's queue with their attempts reset. "
        "Name the events by id, or pass --all. One short transaction per --batch-size "
        "events. Exit status: 0 all requeued; 1 when a named event is not dead (the "
        "others are still requeued); 2 on bad arguments."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("ids", nargs="*", type=uuid.UUID, help="Outbox event ids.")
        parser.add_argument("--all", action="store_true", help="Requeue every dead event.")
        parser.add_argument(
            "--batch-size", type=positive_int, default=1000, help="Events per transaction."
        )
        parser.add_argument(
            "--no-progress", action="store_true", help="No progress bar (none off a terminal)."
        )

    def handle(
        self, *args: Any, ids: list[uuid.UUID], all: bool, batch_size: int, **options: Any
    ) -> None:
        if bool(ids) == all:
            raise CommandError("name event ids or pass --all (not both)", returncode=2)
        with progress_bar(
            self.stderr, unit="event", desc="requeued", hidden=options["no_progress"]
        ) as bar:
            result = outbox_requeue(
                event_ids=None if all else ids, batch_size=batch_size, progress=bar.update
            )
        for event_id in result.requeued:
            self.stdout.write(f"requeued {event_id}")
        self.stdout.write(f"Requeued {len(result.requeued)} dead event(s).")
        if result.not_dead:
            listed = ", ".join(str(i) for i in result.not_dead)
            raise CommandError(f"not dead (unknown, pending or published): {listed}")
