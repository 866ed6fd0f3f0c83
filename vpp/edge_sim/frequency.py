"""The grid's frequency as every node of one synchronous grid sees it.

Around 50 Hz an Ornstein-Uhlenbeck process (the balancing reserves pull it back, the
load's randomness pushes it away) gives the everyday wander of a few tens of mHz. On top
of it, rare loss-of-generation events: a fall to a nadir 0.2-0.3 Hz below nominal in a few
seconds, then an exponential recovery over tens of seconds. Events arrive as a Poisson
process in simulated time. One seeded RNG drives it, so a run is reproducible.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from vpp.edge_sim.physics import ou_step

NOMINAL_HZ = 50.0


@dataclass(frozen=True)
class FrequencyModel:
    sigma_hz: float = 0.02
    # Correlation time of the wander; continental grids drift for about a minute.
    tau_s: float = 60.0
    events_per_hour: float = 0.25
    depth_hz: tuple[float, float] = (0.2, 0.3)
    fall_s: tuple[float, float] = (3.0, 8.0)
    recovery_tau_s: tuple[float, float] = (15.0, 40.0)


@dataclass(frozen=True)
class _Event:
    start_s: float
    depth_hz: float
    fall_s: float
    recovery_tau_s: float

    def offset(self, t_s: float) -> float:
        age = t_s - self.start_s
        if age < 0:
            return 0.0
        if age < self.fall_s:
            return -self.depth_hz * age / self.fall_s
        return -self.depth_hz * math.exp(-(age - self.fall_s) / self.recovery_tau_s)

    def over(self, t_s: float) -> bool:
        return t_s - self.start_s > self.fall_s + 8.0 * self.recovery_tau_s


class GridFrequency:
    """Sample with non-decreasing times (seconds of simulated time from any origin)."""

    def __init__(self, seed: int, model: FrequencyModel | None = None, t0_s: float = 0.0) -> None:
        self.model = model or FrequencyModel()
        self._rng = random.Random(f"grid-frequency/{seed}")
        self._t = t0_s
        self._wander = self._rng.gauss(0.0, self.model.sigma_hz)
        self._events: list[_Event] = []
        self.events_started = 0
        self._next_event_s = t0_s + self._gap()

    def _gap(self) -> float:
        rate = self.model.events_per_hour / 3600.0
        return self._rng.expovariate(rate) if rate > 0 else math.inf

    def _start_event(self, start_s: float) -> None:
        m, r = self.model, self._rng
        self._events.append(
            _Event(
                start_s=start_s,
                depth_hz=r.uniform(*m.depth_hz),
                fall_s=r.uniform(*m.fall_s),
                recovery_tau_s=r.uniform(*m.recovery_tau_s),
            )
        )
        self.events_started += 1

    def at(self, t_s: float) -> float:
        """The frequency at `t_s`; an earlier time than the last one is read as the last."""
        dt = t_s - self._t
        if dt > 0:
            z = self._rng.gauss(0.0, 1.0)
            m = self.model
            self._wander = ou_step(
                self._wander, mean=0.0, sigma=m.sigma_hz, tau_s=m.tau_s, dt_s=dt, z=z
            )
            while self._next_event_s <= t_s:
                self._start_event(self._next_event_s)
                self._next_event_s += self._gap()
            self._t = t_s
        self._events = [e for e in self._events if not e.over(self._t)]
        # Overlapping events do not compound: the reserves already deployed for the first
        # cover part of the second, so the deepest one sets the dip.
        dip = min((e.offset(self._t) for e in self._events), default=0.0)
        return NOMINAL_HZ + self._wander + dip

    @property
    def in_event(self) -> bool:
        return bool(self._events)
