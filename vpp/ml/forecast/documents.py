"""The stored shapes of forecasting: hourly history, forecasts, and the model registry.

- `history_hourly`: one document per series and UTC day, 24 hourly values per channel.
  Series are node ids (`load_kw`, `pv_kw`) and `site` (weather, tariff, carbon); the
  fleet is never stored, it is summed when read.
- `forecasts`: one per cycle, series (node or `fleet`) and target: 24 hourly quantiles
  (10/50/90 %), the model that made them, or the fallback and why.
- `models`: one per trained model version: metrics, data range, darts version; the
  model's bytes are in the GridFS bucket `model_files`.
- `forecast_state`: named cursors, e.g. the first hour of live telemetry not yet
  appended to the history.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from beanie import Document
from pydantic import AwareDatetime, BaseModel, Field
from pymongo import ASCENDING, DESCENDING, IndexModel

from vpp.ml.forecast.settings import ModelKind, Target

HISTORY = "history_hourly"
FORECASTS = "forecasts"
MODELS = "models"
FORECAST_STATE = "forecast_state"
BACKTESTS = "forecast_backtests"
MODEL_FILES_BUCKET = "model_files"

SITE_SERIES = "site"
FLEET_SERIES = "fleet"

HOURS_PER_DAY = 24

HourValues = Annotated[list[float | None], Field(min_length=24, max_length=24)]


def _now() -> datetime:
    return datetime.now(UTC)


class HistoryDay(Document):
    """One series' hourly values on one UTC day; `None` where an hour is unknown.

    `channels` maps a channel (`load_kw`, `pv_kw` for nodes; `temperature_c`, ... for the
    site) to its 24 values, hour 0 first; each value is the average over its hour.
    """

    series_id: str
    day: datetime  # 00:00 UTC
    channels: dict[str, HourValues]
    source: str  # "citylearn" (back-filled) or "telemetry" (appended live)
    updated_at: datetime = Field(default_factory=_now)

    class Settings:
        name = HISTORY
        indexes = [  # noqa: RUF012 - Beanie reads a plain class attribute
            IndexModel(
                [("series_id", ASCENDING), ("day", ASCENDING)], name="series_day", unique=True
            ),
            IndexModel([("day", ASCENDING)], name="day"),
        ]


class ForecastRecord(Document):
    """One 24 h forecast of one target for one node (or `fleet`), made by one cycle."""

    cycle_id: str
    series_id: str  # a node id, or "fleet"
    target: Target
    issued_at: AwareDatetime  # when the cycle ran
    start: AwareDatetime  # the first forecast hour; step i covers [start + i h, start + i+1 h)
    step_minutes: int = 60
    q10: list[float]
    q50: list[float]
    q90: list[float]
    model_name: str
    model_version: int | None  # None for the seasonal-naive fallback (it is not stored)
    model_kind: ModelKind
    fallback: bool = False
    fallback_reason: str | None = None
    history_end: AwareDatetime  # the end of the last hour of history it was made from
    filled_hours: int = 0  # hours of that history that were missing and filled in
    # The fleet's: how many nodes' histories it sums. A node with too little recent history
    # to forecast (one that has just joined) is left out of the sum as well. None for a node.
    nodes: int | None = None

    class Settings:
        name = FORECASTS
        indexes = [  # noqa: RUF012 - Beanie reads a plain class attribute
            IndexModel(
                [("series_id", ASCENDING), ("target", ASCENDING), ("issued_at", DESCENDING)],
                name="series_target_issued",
            ),
            # The key a cycle's batch writes by (a retried batch replaces its forecasts),
            # and the cycle's forecasts for the live message. Without it each write scanned
            # the whole collection: a week of forecasts is 1.3 M documents for 1,000 homes.
            IndexModel(
                [("cycle_id", ASCENDING), ("series_id", ASCENDING), ("target", ASCENDING)],
                name="cycle_series_target",
                unique=True,
            ),
            # Old forecasts are pruned by the cycle (`forecast_retention_days`), not by a
            # TTL index: SecantusDB's TTL sweeper stalls writes on large collections.
            IndexModel([("issued_at", ASCENDING)], name="issued_at"),
        ]


class ModelMetrics(BaseModel):
    """A candidate's scores on the held-out days (see `vpp.ml.forecast.metrics`)."""

    mae: float
    rmse: float
    mase: float
    coverage_80: float
    naive_mae: float
    origins: int
    series: int
    fit_s: float
    predict_s: float


class ForecastModelRecord(Document):
    """A trained forecast model: its metrics, the data it saw, and where its bytes are.

    Loaded by `name` and `version` (versions count up per name from 1). The `champion` of
    a target is the one the forecast cycle uses.
    """

    kind: str = "forecast"  # the `models` collection also holds other kinds of models
    name: str  # e.g. "load_kw-lightgbm"
    version: int
    target: Target
    model_kind: ModelKind
    metrics: ModelMetrics
    data_start: AwareDatetime
    data_end: AwareDatetime
    series_ids: list[str]
    trained_at: AwareDatetime = Field(default_factory=_now)
    file_id: str  # GridFS id in bucket `model_files`
    size_bytes: int
    darts_version: str
    params: dict[str, str | int | float | bool | None] = Field(default_factory=dict)
    champion: bool = False
    promoted_at: AwareDatetime | None = None

    class Settings:
        name = MODELS
        indexes = [  # noqa: RUF012 - Beanie reads a plain class attribute
            IndexModel(
                [("name", ASCENDING), ("version", DESCENDING)], name="name_version", unique=True
            ),
            IndexModel(
                [("kind", ASCENDING), ("target", ASCENDING), ("champion", ASCENDING)],
                name="kind_target_champion",
            ),
        ]


class ForecastState(Document):
    """A named cursor: `telemetry` is the start of the first hour not yet appended."""

    name: str
    hour: AwareDatetime

    class Settings:
        name = FORECAST_STATE
        indexes = [  # noqa: RUF012 - Beanie reads a plain class attribute
            IndexModel([("name", ASCENDING)], name="name", unique=True),
        ]


class BacktestRow(BaseModel):
    """One line of the backtest table: a model's scores on one target, as the mean over
    the homes or for the fleet. None where a score is undefined (NaN)."""

    target: Target
    series: str  # "17 homes" (their mean) or "fleet"
    model: ModelKind
    mae: float
    rmse: float
    mase: float | None
    mase_168: float | None
    coverage_80: float | None
    fit_s: float
    predict_s: float
    origins: int


class BacktestRun(BaseModel):
    """A `vpp forecast backtest` on the CityLearn year: fitted on the hours before
    `test_from`, scored from there to `test_until`; `best` names each target's model with
    the lowest mean MASE over the homes. Stored as is in `forecast_backtests` (a run a
    day at most: no index), read newest first."""

    ran_at: AwareDatetime = Field(default_factory=_now)
    test_from: AwareDatetime
    test_until: AwareDatetime
    horizon_h: int
    stride_h: int
    lookback_h: int
    buildings: list[int]
    rows: list[BacktestRow]
    best: dict[Target, ModelKind]


DOCUMENT_MODELS: list[type[Document]] = [
    HistoryDay,
    ForecastRecord,
    ForecastModelRecord,
    ForecastState,
]
