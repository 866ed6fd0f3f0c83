"""`OptimizeSettings`: the optimisation cycle's section of the settings (`VPP_OPTIMIZE__*`).

Free of other imports, so `vpp.config` can hold it as `optimize: OptimizeSettings`;
`optimize_settings()` reads it from a `Settings` whether or not that line is there yet.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import BaseModel, Field, model_validator

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]


class OptimizeSettings(BaseModel):
    # The Temporal Schedule starts a cycle this often; each decision holds until the next.
    cycle_minutes: Annotated[int, Field(ge=1, le=1_440)] = 15
    # The automation switch before an admin first sets it (then the stored switch rules).
    enabled: bool = True
    dry_run: bool = False
    # The guard's limits. SOC bounds are the fraction of a battery's energy the automation
    # may use; the simulator's own hard bounds are wider (5-95 %).
    soc_min: Fraction = 0.10
    soc_max: Fraction = 0.90
    # The most any one node may be asked for, and the fleet's total per cycle (operator
    # limits: the feeder's and the contract's). 0 means no fleet limit.
    node_max_kw: Annotated[float, Field(gt=0)] = 500.0
    fleet_max_kw: Annotated[float, Field(ge=0)] = 0.0
    # An action smaller than this is not worth a command: the node is left alone.
    min_kw: Annotated[float, Field(ge=0)] = 0.5
    # Actions are rounded to this step so that similar ones share one dispatch.
    kw_step: Annotated[float, Field(gt=0)] = 1.0
    # A node's latest reading older than this is not a state to decide on.
    max_state_age_s: Annotated[float, Field(gt=0)] = 120.0
    # How long a node's command may wait for its ack.
    ack_window_s: Annotated[float, Field(gt=0, le=3_600)] = 60.0
    # Decisions are kept this long (pruned by the cycle).
    decision_retention_days: Annotated[int, Field(ge=1)] = 30

    def smallest_command_kw(self) -> float:
        """The least |kW| the guard sends: rounded down to `kw_step`, at least `min_kw`."""
        steps = math.ceil(max(self.min_kw, self.kw_step) / self.kw_step - 1e-9)
        return steps * self.kw_step

    @model_validator(mode="after")
    def _bounds(self) -> OptimizeSettings:
        if self.soc_min >= self.soc_max:
            raise ValueError("optimize.soc_min must be below optimize.soc_max")
        return self


def optimize_settings(settings: Any) -> OptimizeSettings:
    """The `optimize` section of a `Settings`, or the defaults while it has none."""
    section = getattr(settings, "optimize", None)
    return section if isinstance(section, OptimizeSettings) else OptimizeSettings()
