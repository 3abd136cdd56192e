"""Jittered exponential backoff, shared by event retries and broker reconnects."""

import random
from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class Backoff:
    """base * 2^(attempt-1), capped at `maximum`, then scaled by a random 50-100 %.

    The jitter spreads the retries of a batch that failed together, so a broker that
    comes back is not hit by every relay and every event in the same instant.
    """

    base: float
    maximum: float

    def seconds(self, attempt: int) -> float:
        """The delay before retry number `attempt` (1 for the first retry)."""
        exponent = min(max(attempt - 1, 0), 32)
        ceiling = min(self.maximum, self.base * 2**exponent)
        return ceiling * random.uniform(0.5, 1.0)  # noqa: S311 (not for security)

    def delay(self, attempt: int) -> timedelta:
        return timedelta(seconds=self.seconds(attempt))
