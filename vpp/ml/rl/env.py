"""A gymnasium env of one home battery on the CityLearn year.

Each step is one hour. The action in [-1, 1] is the battery's terminal power as a share
of its nominal power (positive charges); the battery (`vpp.edge_sim.physics.Battery`, the
edge nodes' own model) applies what its power, SOC limits and efficiency allow. The hour
is then charged by `vpp.ml.rl.costs` on the actual load and PV. With `zero_export` the
inverter also caps discharge at the home's own net load in that hour (battery energy is
never exported; it would earn nothing at CityLearn's zero feed-in price).

An action under `idle_below_kw` is what the live cycle turns into no command at all, and
a home node with no command runs its battery for self-consumption on the hour's actual
load and PV (`vpp.edge_sim.physics.self_consumption_kw`). The env does the same, so doing
nothing is the node's own mode, not an idle battery. The no-battery hour, the reward's
reference, is computed beside it.

Reward = -(objective + constraint penalty), scaled by `reward_scale`. With
`reward_vs_no_battery` (default) the no-battery hour's objective is added back: that term
does not depend on the action, so it leaves the best policy unchanged, but the reward
becomes the hour's saving and its variance (the household's whole bill) drops out.

An episode runs `episode_hours` from a random start (building and hour drawn from the
configured buildings and months), or from the given `episodes` in turn (evaluation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import numpy.typing as npt

from vpp.edge_sim.physics import Battery, self_consumption_kw
from vpp.ml.rl.costs import CostModel, HourCost, hour_cost
from vpp.ml.rl.episodes import (
    DEFAULT_FORECAST_DAYS,
    EpisodeSpec,
    Home,
    episode_starts,
    load_home,
)
from vpp.ml.rl.observation import OBS_BOUND, OBS_SIZE, ObservationInput, build_observation
from vpp.ml.rl.settings import RLSettings

Float32Array = npt.NDArray[np.float32]
_SECONDS = 3600.0


@dataclass(frozen=True)
class EnvConfig:
    data_dir: Path
    buildings: tuple[int, ...]
    months: tuple[int, ...]
    episode_hours: int = 168
    cost: CostModel = field(default_factory=CostModel)
    constraint_penalty_per_kwh: float = 0.02
    soc_min: float = 0.05
    soc_max: float = 0.95
    # The inverter never discharges the battery into the grid (see `RLSettings`).
    zero_export: bool = True
    # Under this many kW an action is no command: the node self-consumes (`RLSettings`).
    idle_below_kw: float = 1.0
    # Days of history the observation's forecasts average (`RLSettings.forecast_days`).
    forecast_days: int = DEFAULT_FORECAST_DAYS
    # None: each episode starts at a random SOC in [soc_min, soc_max] (training).
    initial_soc: float | None = None
    reward_vs_no_battery: bool = True
    reward_scale: float = 1.0
    # Fixed episodes, run in turn by successive resets (evaluation); None = random.
    episodes: tuple[EpisodeSpec, ...] | None = None

    @classmethod
    def from_settings(
        cls,
        rl: RLSettings,
        *,
        buildings: Sequence[int],
        months: Sequence[int],
        episodes: Sequence[EpisodeSpec] | None = None,
        initial_soc: float | None = None,
        reward_scale: float = 1.0,
    ) -> EnvConfig:
        return cls(
            data_dir=rl.resolved_data_dir(),
            buildings=tuple(buildings),
            months=tuple(months),
            episode_hours=rl.episode_hours,
            cost=CostModel.from_settings(rl),
            constraint_penalty_per_kwh=rl.constraint_penalty_per_kwh,
            soc_min=rl.soc_min,
            soc_max=rl.soc_max,
            zero_export=rl.zero_export,
            idle_below_kw=rl.idle_below_kw,
            forecast_days=rl.forecast_days,
            initial_soc=initial_soc,
            reward_scale=reward_scale,
            episodes=tuple(episodes) if episodes is not None else None,
        )

    def exact(self) -> EnvConfig:
        """The same env applying every setpoint as given (the LP's schedule, replayed)."""
        return replace(self, idle_below_kw=0.0)


@dataclass(frozen=True)
class StepRecord:
    """One hour as the env charged it."""

    row: int
    requested_kw: float
    battery_kw: float
    soc_after: float
    cost: HourCost
    baseline: HourCost  # the same hour without the battery
    idle: bool = False  # no command: the battery ran for self-consumption


class BatteryEnv(gym.Env[Float32Array, Float32Array]):
    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 - gymnasium's class attribute

    def __init__(self, config: EnvConfig) -> None:
        super().__init__()
        if not config.buildings and config.episodes is None:
            raise ValueError("the env needs buildings (or fixed episodes)")
        self.config = config
        self.observation_space = gym.spaces.Box(
            -OBS_BOUND, OBS_BOUND, shape=(OBS_SIZE,), dtype=np.float32
        )
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
        self._starts = (
            episode_starts(config.months, config.episode_hours)
            if config.episodes is None
            else np.zeros(0, dtype=np.int64)
        )
        if config.episodes is None and self._starts.size == 0:
            raise ValueError(f"no {config.episode_hours} h episode fits in months {config.months}")
        self._next_episode = 0
        self.spec_now = EpisodeSpec(0, 0, 0)
        self.home: Home | None = None
        self.battery: Battery | None = None
        self.t = 0
        self._peak = 0.0
        self._baseline_peak = 0.0
        self.history: list[StepRecord] = []

    # -- gymnasium ---------------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Float32Array, dict[str, Any]]:
        super().reset(seed=seed)
        spec = self._choose_episode(options)
        home = load_home(self.config.data_dir, spec.building, self.config.forecast_days)
        soc = self.config.initial_soc
        if options and "soc" in options:
            soc = float(options["soc"])
        if soc is None:
            soc = float(self.np_random.uniform(self.config.soc_min, self.config.soc_max))
        b = home.battery
        self.battery = Battery(
            b.capacity_kwh,
            b.nominal_kw,
            b.efficiency,
            energy_kwh=soc * b.capacity_kwh,
            soc_min=self.config.soc_min,
            soc_max=self.config.soc_max,
        )
        self.spec_now, self.home, self.t = spec, home, 0
        self._peak = self._baseline_peak = 0.0
        self.history = []
        return build_observation(self.observation_input()), {"episode": spec}

    def step(self, action: Float32Array) -> tuple[Float32Array, float, bool, bool, dict[str, Any]]:
        home, battery = self._running()
        row = self.row
        a = float(np.clip(np.asarray(action, dtype=np.float64).reshape(-1)[0], -1.0, 1.0))
        requested = a * battery.max_kw
        load, pv = float(home.load_kw[row]), float(home.pv_kw[row])
        base_net = load - pv
        idle = abs(requested) < self.config.idle_below_kw
        if idle:
            requested = self_consumption_kw(load, pv)
        allowed = requested
        if self.config.zero_export:  # the inverter discharges no more than the home draws
            allowed = max(requested, -max(base_net, 0.0))
        applied = battery.run(allowed, _SECONDS)
        price, carbon = float(home.price[row]), float(home.carbon[row])
        cost = hour_cost(
            self.config.cost,
            net_kw=base_net + applied,
            battery_kw=applied,
            price=price,
            carbon=carbon,
            peak_so_far_kw=self._peak,
        )
        baseline = hour_cost(
            self.config.cost,
            net_kw=base_net,
            battery_kw=0.0,
            price=price,
            carbon=carbon,
            peak_so_far_kw=self._baseline_peak,
        )
        self._peak = max(self._peak, cost.import_kw)
        self._baseline_peak = max(self._baseline_peak, baseline.import_kw)
        # Only what the battery itself refused is penalised: the export cap is the
        # inverter's job, so asking for full discharge in a peak hour is no mistake.
        # Self-consumption stopped by a full or empty battery is no refusal either.
        refused = 0.0 if idle else abs(allowed - applied)
        penalty = self.config.constraint_penalty_per_kwh * refused
        reward = -(cost.objective + penalty)
        if self.config.reward_vs_no_battery:
            reward += baseline.objective
        record = StepRecord(row, requested, applied, battery.soc, cost, baseline, idle)
        self.history.append(record)
        self.t += 1
        truncated = self.t >= self.spec_now.hours
        # The last observation still needs a decision row with history; it is never acted on.
        obs = build_observation(self.observation_input())
        info = {"record": record, "refused_kw": refused}
        return obs, float(reward * self.config.reward_scale), False, truncated, info

    # -- what policies and baselines read ----------------------------------------------------

    @property
    def row(self) -> int:
        return self.spec_now.start_row + self.t

    def observation_input(self) -> ObservationInput:
        home, battery = self._running()
        return home.observation_input(self.row, battery.soc)

    def hindsight_input(self) -> ObservationInput:
        """The input with the actual hours ahead as forecasts (`Home.hindsight_input`)."""
        home, battery = self._running()
        return home.hindsight_input(self.row, battery.soc)

    def _running(self) -> tuple[Home, Battery]:
        if self.home is None or self.battery is None:
            raise RuntimeError("call reset() before step()")
        return self.home, self.battery

    def _choose_episode(self, options: dict[str, Any] | None) -> EpisodeSpec:
        if options and "episode" in options:
            spec = options["episode"]
            if not isinstance(spec, EpisodeSpec):
                raise TypeError("options['episode'] must be an EpisodeSpec")
            return spec
        if self.config.episodes is not None:
            spec = self.config.episodes[self._next_episode % len(self.config.episodes)]
            self._next_episode += 1
            return spec
        building = int(self.np_random.choice(self.config.buildings))
        start = int(self.np_random.choice(self._starts))
        return EpisodeSpec(building, start, self.config.episode_hours)
