"""manage.py seed_orders: bulk-load realistic orders for benchmarks and demos."""

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from orders.seeding import SeedPlan, seed_idempotency_keys, seed_orders


class Command(BaseCommand):
    help = (
        "Insert ORDERS orders spread over TENANTS tenants (tenant-1 ... tenant-N) with "
        "COPY: a mix of draft, confirmed and closed orders with consistent versions, "
        "totals and timestamps, and one already-published outbox event per closed "
        "order. --seed fixes the mix of states and totals; ids are always new, so "
        "seeding twice adds to what is there."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenants", type=int, default=10, help="Number of tenants.")
        parser.add_argument("--orders", type=int, required=True, help="Orders in total.")
        parser.add_argument("--tenant-prefix", default="tenant-", help="Tenant id prefix.")
        parser.add_argument("--batch-size", type=int, default=50_000, help="Rows per COPY.")
        parser.add_argument("--seed", type=int, default=0, help="Random seed.")
        parser.add_argument(
            "--idempotency-keys",
            type=int,
            default=0,
            help=(
                "Also this many completed idempotency keys, created over the last two "
                "retention periods (IDEMPOTENCY_KEY_TTL_SECONDS): half live, half expired. "
                "Each stores a create's 201 as the API renders it."
            ),
        )
        parser.add_argument(
            "--no-progress", action="store_true", help="No progress bar (e.g. in CI logs)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        tenants, orders = options["tenants"], options["orders"]
        keys = options["idempotency_keys"]
        if tenants < 1 or orders < 0 or keys < 0 or options["batch_size"] < 1:
            raise CommandError(
                "--tenants and --batch-size must be >= 1, --orders and --idempotency-keys >= 0"
            )
        plan = SeedPlan(
            tenants=tenants,
            orders=orders,
            tenant_prefix=options["tenant_prefix"],
            seed=options["seed"],
        )
        with tqdm(
            total=orders, unit="order", disable=options["no_progress"], file=self.stderr
        ) as bar:
            written = seed_orders(plan, batch_size=options["batch_size"], progress=bar.update)
        self.stdout.write(f"Seeded {written} order(s) across {tenants} tenant(s).")
        if keys:
            with tqdm(
                total=keys, unit="key", disable=options["no_progress"], file=self.stderr
            ) as bar:
                written = seed_idempotency_keys(
                    plan,
                    count=keys,
                    ttl=timedelta(seconds=settings.IDEMPOTENCY_KEY_TTL_SECONDS),
                    batch_size=options["batch_size"],
                    progress=bar.update,
                )
            self.stdout.write(f"Seeded {written} idempotency key(s).")
