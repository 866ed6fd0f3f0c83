"""Exponential back-off with jitter, so a fleet that lost its broker does not come back at
the same instant."""

from __future__ import annotations

import random


class Backoff:
    def __init__(
        self,
        rng: random.Random,
        first_s: float = 0.5,
        cap_s: float = 30.0,
        factor: float = 2.0,
    ) -> None:
        self._rng = rng
        self.first_s = first_s
        self.cap_s = cap_s
        self.factor = factor
        self.attempts = 0

    def next_delay(self) -> float:
        """The wait before the next attempt: half to all of the exponential step."""
        step = min(self.cap_s, self.first_s * self.factor**self.attempts)
        self.attempts += 1
        return step * self._rng.uniform(0.5, 1.0)

    def reset(self) -> None:
        self.attempts = 0
