"""manage.py outbox_status: how far behind the relay is, and what is stuck."""

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from outbox.services import outbox_status


class Command(BaseCommand):
    help = (
        "Show pending and dead outbox events, the age of the oldest pending one and how "
        "many were published in the last hour. With --check, exit 1 when any event is "
        "dead or the oldest pending one is older than --max-age seconds (for monitoring)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="One JSON object.")
        parser.add_argument(
            "--check", action="store_true", help="Exit 1 on dead events or a stale backlog."
        )
        parser.add_argument(
            "--max-age",
            type=float,
            default=300.0,
            help="With --check: oldest pending age, in seconds, that counts as stale.",
        )

    def handle(self, *args: Any, json: bool, check: bool, max_age: float, **options: Any) -> None:
        status = outbox_status()
        age = status.oldest_pending_age(timezone.now())
        report = {
            "pending": status.pending,
            "dead": status.dead,
            "oldestPendingAgeSeconds": round(age, 3) if age is not None else None,
            "publishedLastHour": status.published_last_hour,
        }
        if json:
            self.stdout.write(_dumps(report))
        else:
            self.stdout.write(
                f"pending: {status.pending}\n"
                f"dead: {status.dead}\n"
                f"oldest pending age: {f'{age:.1f}s' if age is not None else '-'}\n"
                f"published in the last hour: {status.published_last_hour}"
            )
        if check and (status.dead or (age is not None and age > max_age)):
            raise CommandError("outbox needs attention", returncode=1)


def _dumps(report: dict[str, Any]) -> str:
    return json.dumps(report, separators=(",", ":"))
