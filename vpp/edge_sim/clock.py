"""Simulated time: wall time scaled by `speed`, starting at the wall clock's now.

Telemetry and physics run on simulated time; what the rest of the platform compares with
its own clock (a command's `expires_at`, an ack's `at`) uses the wall clock. At speed 1 the
two are the same.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def sim_now(self) -> datetime: ...

    def wall_now(self) -> datetime: ...

    def real_seconds(self, sim_seconds: float) -> float:
        """How long `sim_seconds` of simulated time take on the wall clock."""
        ...


class ScaledClock:
    def __init__(self, speed: float = 1.0, start: datetime | None = None) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self.start = start if start is not None else datetime.now(UTC)
        self._t0 = time.monotonic()

    def sim_now(self) -> datetime:
        return self.start + timedelta(seconds=(time.monotonic() - self._t0) * self.speed)

    def wall_now(self) -> datetime:
        return datetime.now(UTC)

    def real_seconds(self, sim_seconds: float) -> float:
        return sim_seconds / self.speed


class ManualClock:
    """A clock tests move by hand; simulated and wall time advance together."""

    def __init__(self, start: datetime, speed: float = 1.0) -> None:
        self.speed = speed
        self._sim = start
        self._wall = start

    def advance(self, sim_seconds: float) -> None:
        self._sim += timedelta(seconds=sim_seconds)
        self._wall += timedelta(seconds=sim_seconds / self.speed)

    def sim_now(self) -> datetime:
        return self._sim

    def wall_now(self) -> datetime:
        return self._wall

    def real_seconds(self, sim_seconds: float) -> float:
        return sim_seconds / self.speed
