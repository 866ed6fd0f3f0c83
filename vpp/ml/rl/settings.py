"""Settings of the optimisation: the cost model, the episodes, the data split, training.

A section of the platform's `Settings` (`settings.rl`, variables `VPP_RL__...`, e.g.
`VPP_RL__CARBON_PRICE_PER_KG=0.2`). This module imports nothing of the platform, so
`vpp.config` can import it.

The split keeps three sets of buildings and two sets of months apart (CityLearn 2022,
buildings 1-17, the year Aug 2016 - Jul 2017):

- training: buildings 1-8, August to April;
- validation (choosing the champion among the trained algorithms, and the settings):
  buildings 1-10, May to July: months no agent has trained on, of homes it has (1-8)
  and has not (9-10). Buildings 9-10 alone are PV-rich homes where self-consumption
  already earns 0.93 of the LP's saving (0.77 held-out), so they barely test the grid
  top-up that separates controllers;
- evaluation (the figures reported): buildings 11-17, May to July; no agent has seen
  these buildings nor these months, and no choice was made on them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Self

from pydantic import BaseModel, Field, model_validator

from vpp.shared_data import CITYLEARN, shared_data_dir

if TYPE_CHECKING:
    from vpp.config import Settings

_CITYLEARN_DIR = shared_data_dir() / CITYLEARN
_HYPERPARAMS = Path(__file__).resolve().parent / "hyperparams.yaml"

Building = Annotated[int, Field(ge=1, le=17)]
Month = Annotated[int, Field(ge=1, le=12)]
NonNegative = Annotated[float, Field(ge=0.0)]


class RLSettings(BaseModel):
    data_dir: Path = _CITYLEARN_DIR
    # -- the cost model (the env's reward, the LP's objective and the evaluation) --
    # $ per kg CO2 of imported energy (0.1 = $100 per tonne).
    carbon_price_per_kg: NonNegative = 0.1
    # Export is paid this share of the import price. 0 (the default) is CityLearn 2022's
    # rule: a home's hourly cost is clipped at 0, exported energy earns nothing.
    export_price_share: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    # $ per kWh through the battery terminals, either way: wear, linear in throughput.
    degradation_per_kwh: NonNegative = 0.01
    # $ per kW of the episode's highest import (0: no peak charge).
    peak_price_per_kw: NonNegative = 0.0
    # $ per kWh the agent asked for beyond what the battery could do (reward only).
    constraint_penalty_per_kwh: NonNegative = 0.02
    # The inverter discharges no more than the home's own net load (zero export): a
    # common home-battery setting, and with no feed-in price exporting stored energy only
    # loses it. The env and the LP share the limit; the live guard should apply it.
    zero_export: bool = True
    # An action under this many kW sends no command (the optimiser's guard rounds kW down
    # to its `kw_step`, 1 kW), and a home battery left alone runs for self-consumption:
    # it stores the PV surplus and covers the load. The env does the same, so a policy
    # learns what the node will do. `Settings` refuses a value other than the guard's
    # smallest command (`OptimizeSettings.smallest_command_kw`).
    idle_below_kw: NonNegative = 1.0
    # The battery's usable range, as the edge nodes enforce it.
    soc_min: Annotated[float, Field(ge=0.0, le=1.0)] = 0.05
    soc_max: Annotated[float, Field(ge=0.0, le=1.0)] = 0.95
    # -- episodes and the split --
    episode_hours: Annotated[int, Field(ge=24, le=2160)] = 168
    train_buildings: list[Building] = Field(default_factory=lambda: list(range(1, 9)))
    train_months: list[Month] = Field(default_factory=lambda: [8, 9, 10, 11, 12, 1, 2, 3, 4])
    val_buildings: list[Building] = Field(default_factory=lambda: list(range(1, 11)))
    eval_buildings: list[Building] = Field(default_factory=lambda: list(range(11, 18)))
    eval_months: list[Month] = Field(default_factory=lambda: [5, 6, 7])
    # The env's load and PV forecasts: the mean of the same hour over this many past days
    # (1 = yesterday's, the seasonal naive). A week's mean is less noisy; chosen on the
    # validation split. The live cycle uses the forecast cycle's output instead.
    forecast_days: Annotated[int, Field(ge=1, le=7)] = 7
    # Evaluation episodes start at this SOC (no stored energy to spend for free at soc_min).
    eval_initial_soc: Annotated[float, Field(ge=0.0, le=1.0)] = 0.05
    # -- training --
    hyperparams_file: Path = _HYPERPARAMS
    algorithms: list[str] = Field(default_factory=lambda: ["sac", "ppo", "ppo_residual"])
    # A local copy of each trained policy (the registry holds the real one).
    model_dir: Path = Path(".vpp/rl")
    # Threads torch may use (the machine is shared).
    threads: Annotated[int, Field(ge=1)] = 1
    seed: int = 7

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.soc_min >= self.soc_max:
            raise ValueError("soc_min must be below soc_max")
        if not self.soc_min <= self.eval_initial_soc <= self.soc_max:
            raise ValueError("eval_initial_soc must lie within [soc_min, soc_max]")
        evaluation = set(self.eval_buildings)
        for name, other in (("train", self.train_buildings), ("val", self.val_buildings)):
            if evaluation & set(other):
                raise ValueError(
                    f"{name}_buildings overlap eval_buildings: {evaluation & set(other)}"
                )
        if set(self.train_months) & set(self.eval_months):
            raise ValueError("eval_months overlap train_months")
        return self

    def resolved_data_dir(self) -> Path:
        return self.data_dir.expanduser().resolve()


def rl_settings(settings: Settings) -> RLSettings:
    """`settings.rl`, or the defaults until that section is part of `Settings`."""
    section = getattr(settings, "rl", None)
    return section if isinstance(section, RLSettings) else RLSettings()
