"""The physical parts of a node: its battery and the loads that draw from the grid.

Signs follow the telemetry: battery power is measured at the battery's terminals,
positive when it charges; a node's grid power is positive when it imports.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

# Power is clipped this close to a limit rather than producing a sliver of a step.
_EPS = 1e-9


def self_consumption_kw(load_kw: float, pv_kw: float) -> float:
    """What a home battery left alone asks for: store the PV surplus, cover the load. The
    battery's own limits then apply (`Battery.run`); it never discharges past the load."""
    return pv_kw - load_kw


@dataclass
class Battery:
    """Energy integrates terminal power with the efficiency applied both ways: charging
    stores `kW * h * efficiency`, discharging draws `kW * h / efficiency` from storage."""

    capacity_kwh: float
    max_kw: float
    efficiency: float
    energy_kwh: float
    soc_min: float = 0.05
    soc_max: float = 0.95

    def __post_init__(self) -> None:
        if not 0.0 < self.efficiency <= 1.0:
            raise ValueError("efficiency must be in (0, 1]")
        if not 0.0 <= self.soc_min < self.soc_max <= 1.0:
            raise ValueError("need 0 <= soc_min < soc_max <= 1")
        low, high = self.soc_min * self.capacity_kwh, self.soc_max * self.capacity_kwh
        self.energy_kwh = min(max(self.energy_kwh, low), high)

    @classmethod
    def at_soc(cls, capacity_kwh: float, max_kw: float, efficiency: float, soc: float) -> Battery:
        return cls(capacity_kwh, max_kw, efficiency, energy_kwh=soc * capacity_kwh)

    @property
    def soc(self) -> float:
        """State of charge as a fraction of capacity."""
        return self.energy_kwh / self.capacity_kwh

    @property
    def at_min(self) -> bool:
        return self.energy_kwh <= self.soc_min * self.capacity_kwh + _EPS

    @property
    def at_max(self) -> bool:
        return self.energy_kwh >= self.soc_max * self.capacity_kwh - _EPS

    def limit(self, kw: float, seconds: float) -> float:
        """The part of `kw` the battery can hold for `seconds` within its kW and SOC limits."""
        kw = min(max(kw, -self.max_kw), self.max_kw)
        if seconds <= 0:
            return kw
        hours = seconds / 3600.0
        if kw > 0:
            room = self.soc_max * self.capacity_kwh - self.energy_kwh
            return max(0.0, min(kw, room / (self.efficiency * hours)))
        if kw < 0:
            available = self.energy_kwh - self.soc_min * self.capacity_kwh
            return -max(0.0, min(-kw, available * self.efficiency / hours))
        return 0.0

    def run(self, kw: float, seconds: float) -> float:
        """Run at `kw` for `seconds`, as far as the limits allow; return the kW applied."""
        applied = self.limit(kw, seconds)
        hours = seconds / 3600.0
        if applied > 0:
            self.energy_kwh += applied * hours * self.efficiency
        elif applied < 0:
            self.energy_kwh += applied * hours / self.efficiency
        # Keep rounding from pushing the state a hair past a limit.
        low, high = self.soc_min * self.capacity_kwh, self.soc_max * self.capacity_kwh
        self.energy_kwh = min(max(self.energy_kwh, low), high)
        return applied


def ou_step(x: float, *, mean: float, sigma: float, tau_s: float, dt_s: float, z: float) -> float:
    """One exact step of an Ornstein-Uhlenbeck process with stationary std `sigma`."""
    decay = math.exp(-dt_s / tau_s)
    return mean + (x - mean) * decay + sigma * math.sqrt(1.0 - decay * decay) * z


class Noise:
    """Slowly wandering multiplicative noise around 1 (an OU process)."""

    def __init__(self, rng: random.Random, sigma: float, tau_s: float) -> None:
        self._rng = rng
        self.sigma = sigma
        self.tau_s = tau_s
        self.value = 1.0 + rng.gauss(0.0, sigma)

    def step(self, dt_s: float) -> float:
        if dt_s > 0:
            z = self._rng.gauss(0.0, 1.0)
            self.value = ou_step(
                self.value, mean=1.0, sigma=self.sigma, tau_s=self.tau_s, dt_s=dt_s, z=z
            )
        return self.value


@dataclass
class ComputeLoad:
    """An edge data centre's IT load: a daily shape (peak mid-afternoon) with noise, part
    of which is flexible work that can be deferred and is caught up afterwards."""

    mean_kw: float
    capacity_kw: float
    daily_swing: float = 0.3  # peak is mean * (1 + swing)
    flexible_share: float = 0.3
    backlog_kwh: float = 0.0

    def base_kw(self, hour_of_day: float, noise: float) -> float:
        shape = math.cos(2.0 * math.pi * (hour_of_day - 15.0) / 24.0)
        kw = self.mean_kw * (1.0 + self.daily_swing * shape) * noise
        return min(max(kw, 0.0), self.capacity_kw)

    def flexible_kw(self, base_kw: float) -> float:
        return base_kw * self.flexible_share

    def run(self, base_kw: float, defer_kw: float, seconds: float) -> tuple[float, float]:
        """Draw for `seconds`: defer up to `defer_kw` of the flexible part, or, with nothing
        to defer, work the backlog off as fast as the flexible share and capacity allow.
        Returns (load kW drawn, kW deferred)."""
        hours = seconds / 3600.0
        if defer_kw > 0:
            deferred = min(defer_kw, self.flexible_kw(base_kw))
            self.backlog_kwh += deferred * hours
            return base_kw - deferred, deferred
        if self.backlog_kwh > 0 and hours > 0:
            catch_up = min(
                self.flexible_kw(self.mean_kw),
                self.capacity_kw - base_kw,
                self.backlog_kwh / hours,
            )
            catch_up = max(catch_up, 0.0)
            self.backlog_kwh -= catch_up * hours
            return base_kw + catch_up, 0.0
        return base_kw, 0.0
