"""Deleting (or otherwise working through) a table in short transactions."""

from collections.abc import Callable

from django.db import transaction


def in_batches(
    step: Callable[[], int], *, batch_size: int, progress: Callable[[int], object] | None
) -> int:
    """Run `step` (which handles up to `batch_size` rows and says how many) in a
    transaction of its own until it handles fewer; returns the total."""
    total = 0
    while True:
        with transaction.atomic():
            count = step()
        total += count
        if progress is not None:
            progress(count)
        if count < batch_size:
            return total
