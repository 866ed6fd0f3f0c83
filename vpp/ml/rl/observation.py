"""The policy's observation: one pure function shared by the env and the live cycle.

`ObservationInput` holds only what is known at decision time: the battery's state, the
time, the tariff and carbon intensity ahead (published tables) and *forecasts* of load
and PV. The actual future never enters: the env fills the forecasts from the past only,
the live cycle from the forecast cycle's output.

The vector (`OBS_SIZE` float32 values, each of order 1):
  soc | sin, cos of the hour of day | sin, cos of the day of week | energy-to-power ratio
  | HORIZON prices / PRICE_REF | HORIZON carbon / CARBON_REF
  | HORIZON net load forecast (load - PV) / max power
Fixed reference scales (not statistics of a data set) keep the live vector on the same
scale as in training.

The input also says how the last `RECENT_H` hours went against a typical day
(`vpp.ml.rl.recent`): measured history, never the future. The plain agents' vector leaves
it out; the residual policy's (`vpp.ml.rl.residual`) adds it.
"""

from __future__ import annotations

import math
from datetime import UTC
from typing import Annotated

import numpy as np
import numpy.typing as npt
from pydantic import AwareDatetime, BaseModel, Field, field_validator

from vpp.ml.rl.recent import RECENT_H

HORIZON = 24  # hours of tariff, carbon and forecasts the policy sees
PRICE_REF = 0.5  # $/kWh, about the peak tariff
CARBON_REF = 0.3  # kg CO2/kWh, about the highest grid intensity
RATIO_REF = 4.0  # hours: capacity / power of a typical home battery is ~1.3
OBS_BOUND = 10.0  # every value is clipped to +-OBS_BOUND (a bad forecast stays bounded)
_SCALARS = 6
OBS_SIZE = _SCALARS + 3 * HORIZON
# What an action means to the env; a policy runs only where it means the same (the
# registry records it). 1: action 0 idled the battery. 2: an action under the idle band
# is no command, and the home battery self-consumes (`vpp.ml.rl.env`).
ENV_VERSION = 2

Ahead = Annotated[list[float], Field(min_length=HORIZON, max_length=HORIZON)]
Recent = Annotated[list[float], Field(min_length=RECENT_H, max_length=RECENT_H)]
Float32Array = npt.NDArray[np.float32]


class ObservationInput(BaseModel):
    """What a policy may know when it decides for one home battery for the next hour."""

    soc: Annotated[float, Field(ge=0.0, le=1.0)]
    at: AwareDatetime
    prices_ahead: Ahead  # $/kWh, import tariff of the HORIZON hours from `at`'s hour
    carbon_ahead: Ahead  # kg CO2/kWh
    load_forecast_kw: Ahead  # average kW per hour, forecasts, never actuals
    pv_forecast_kw: Ahead
    capacity_kwh: Annotated[float, Field(gt=0.0)]
    max_power_kw: Annotated[float, Field(gt=0.0)]
    # kW, each of the last RECENT_H hours' measured value minus its typical one, oldest
    # first (`vpp.ml.rl.recent.recent_deviation`); 0 where the history does not say.
    load_recent_dev_kw: Recent = Field(default_factory=lambda: [0.0] * RECENT_H)
    pv_recent_dev_kw: Recent = Field(default_factory=lambda: [0.0] * RECENT_H)

    @field_validator(
        "prices_ahead",
        "carbon_ahead",
        "load_forecast_kw",
        "pv_forecast_kw",
        "load_recent_dev_kw",
        "pv_recent_dev_kw",
    )
    @classmethod
    def _finite(cls, values: list[float]) -> list[float]:
        if not all(math.isfinite(v) for v in values):
            raise ValueError("values must be finite numbers")
        return values


def build_observation(inp: ObservationInput) -> Float32Array:
    """The normalised observation vector of `inp` (shape `(OBS_SIZE,)`, float32)."""
    at = inp.at.astimezone(UTC)  # the data's clock is UTC, whatever zone the caller used
    hour = at.hour + at.minute / 60.0
    day = at.weekday() + hour / 24.0
    day_angle = 2.0 * math.pi * hour / 24.0
    week_angle = 2.0 * math.pi * day / 7.0
    scalars = [
        inp.soc,
        math.sin(day_angle),
        math.cos(day_angle),
        math.sin(week_angle),
        math.cos(week_angle),
        inp.capacity_kwh / inp.max_power_kw / RATIO_REF,
    ]
    net = (np.asarray(inp.load_forecast_kw) - np.asarray(inp.pv_forecast_kw)) / inp.max_power_kw
    out = np.concatenate(
        [
            np.asarray(scalars),
            np.asarray(inp.prices_ahead) / PRICE_REF,
            np.asarray(inp.carbon_ahead) / CARBON_REF,
            net,
        ]
    )
    vector: Float32Array = np.clip(out, -OBS_BOUND, OBS_BOUND).astype(np.float32)
    return vector
