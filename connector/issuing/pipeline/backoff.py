"""Retry delays: exponential, capped, with jitter so that a recovering issuer is not hit by every
failed item in the same second."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    base_seconds: float = 30.0
    cap_seconds: float = 6 * 3600.0
    jitter: float = 0.25  # up to ±25 %

    def delay(self, attempts: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt (1-based)."""
        rng = rng or random.Random()
        exponent = min(max(attempts - 1, 0), 32)
        raw = min(self.cap_seconds, self.base_seconds * (2 ** exponent))
        jittered = raw * (1 + rng.uniform(-self.jitter, self.jitter))
        if retry_after is not None:
            # the target told us when it can take more; never come back earlier than that
            jittered = max(jittered, retry_after)
        return min(jittered, self.cap_seconds) if retry_after is None else jittered
