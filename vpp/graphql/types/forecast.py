"""Forecasts with their quantile bands, trained models with their metrics, and the fleet's
flexibility envelope."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

import strawberry

from vpp.ml.forecast.documents import BacktestRow as StoredBacktestRow
from vpp.ml.forecast.documents import BacktestRun
from vpp.ml.forecast.settings import ModelKind, Target
from vpp.services.forecast_accuracy import ForecastAccuracy as StoredForecastAccuracy
from vpp.services.forecast_accuracy import LeadAccuracy as StoredLeadAccuracy
from vpp.services.forecasts import Flexibility as StoredFlexibility
from vpp.services.forecasts import FlexibilityHour as StoredFlexibilityHour
from vpp.services.forecasts import ForecastView, ModelView

strawberry.enum(Target, name="ForecastTarget", description="What is forecast (average kW per hour)")
strawberry.enum(ModelKind, name="ForecastModelKind", description="A kind of forecasting model")

# The design's accuracy target: MASE against the seasonal naive.
MASE_TARGET = 0.8

# The `horizon` argument of the `forecasts` query and subscription.
Horizon = Annotated[
    int | None, strawberry.argument(description="Only the steps within this many hours (1-168)")
]


@strawberry.type(description="One forecast step: the median and the 80 % band")
class ForecastPoint:
    at: datetime = strawberry.field(description="Start of the step")
    p10: float
    p50: float
    p90: float


@strawberry.type(description="The newest forecast of one target for a node or the fleet")
class Forecast:
    series_id: strawberry.ID = strawberry.field(description="A node id, or `fleet`")
    target: Target
    cycle_id: str = strawberry.field(description="The forecast cycle's workflow id")
    issued_at: datetime
    model: str = strawberry.field(description="Model name and version that made it")
    fallback_reason: str | None = strawberry.field(
        description="Set when the seasonal-naive fallback made it, and why"
    )
    stale_after: datetime = strawberry.field(
        description="A newer forecast is due by then (two forecast cycles after `issuedAt`); "
        "past it this one is stale: the cycles stopped forecasting the node, which has had "
        "no history for too long, or they are not running"
    )
    nodes: int | None = strawberry.field(
        description="The fleet's: how many nodes' summed history it forecasts, those with a "
        "day or more of recent history (a node that has just joined is left out until then). "
        "Null for a node's forecast"
    )
    points: list[ForecastPoint]

    @classmethod
    def from_view(cls, v: ForecastView, fresh_for: timedelta) -> Forecast:
        step = timedelta(minutes=v.step_minutes)
        return cls(
            series_id=strawberry.ID(v.series_id),
            target=v.target,
            cycle_id=v.cycle_id,
            issued_at=v.issued_at,
            model=v.model_name if v.model_version is None else f"{v.model_name} v{v.model_version}",
            fallback_reason=v.fallback_reason,
            stale_after=v.issued_at + fresh_for,
            nodes=v.nodes,
            points=[
                ForecastPoint(at=v.start + i * step, p10=lo, p50=mid, p90=hi)
                for i, (lo, mid, hi) in enumerate(zip(v.q10, v.q50, v.q90, strict=True))
            ],
        )


@strawberry.type(description="A named figure of a model's held-out evaluation")
class Metric:
    name: str
    value: float


@strawberry.type(description="A trained model (forecaster or policy) in the registry")
class Model:
    name: str
    version: int
    kind: str
    target: str | None
    champion: bool = strawberry.field(description="The one the cycles use")
    trained_at: datetime
    metrics: list[Metric]

    @classmethod
    def from_view(cls, v: ModelView) -> Model:
        return cls(
            name=v.name,
            version=v.version,
            kind=v.kind,
            target=v.target,
            champion=v.champion,
            trained_at=v.trained_at,
            metrics=[Metric(name=k, value=x) for k, x in sorted(v.metrics.items())],
        )


@strawberry.type(description="One model's backtest scores on one target, homes' mean or fleet")
class BacktestRow:
    target: Target
    series: str = strawberry.field(description="`<n> homes` (the mean over them) or `fleet`")
    model: ModelKind
    mae: float = strawberry.field(description="Mean absolute error of the median, kW")
    rmse: float = strawberry.field(description="Root mean squared error of the median, kW")
    mase: float | None = strawberry.field(
        description="MAE over the 24 h seasonal naive's on the same points (< 1 beats it)"
    )
    mase_weekly: float | None = strawberry.field(description="The same against the 168 h naive")
    coverage80: float | None = strawberry.field(
        description="Share of actuals within the 80 % band (PV: daylight hours only)"
    )
    fit_seconds: float
    predict_seconds: float = strawberry.field(description="To forecast every origin")
    origins: int

    @classmethod
    def from_stored(cls, r: StoredBacktestRow) -> BacktestRow:
        return cls(
            target=r.target,
            series=r.series,
            model=r.model,
            mae=r.mae,
            rmse=r.rmse,
            mase=r.mase,
            mase_weekly=r.mase_168,
            coverage80=r.coverage_80,
            fit_seconds=r.fit_s,
            predict_seconds=r.predict_s,
            origins=r.origins,
        )


@strawberry.type(description="The model a backtest chose for a target: the lowest homes' MASE")
class BestModel:
    target: Target
    model: ModelKind
    mase: float | None = strawberry.field(description="Its mean MASE over the homes")
    meets_target: bool = strawberry.field(description="MASE at most 0.8, the design's target")


@strawberry.type(
    description=(
        "The newest `vpp forecast backtest`: fitted on the hours before testFrom, "
        "forecast every strideHours to testUntil, horizonHours ahead"
    )
)
class ForecastMetrics:
    ran_at: datetime
    test_from: datetime
    test_until: datetime
    horizon_hours: int
    stride_hours: int
    buildings: list[int]
    rows: list[BacktestRow]
    best: list[BestModel]

    @classmethod
    def from_stored(cls, run: BacktestRun) -> ForecastMetrics:
        chosen = []
        for target, kind in run.best.items():
            homes = [r for r in run.rows if r.target is target and r.model is kind]
            mase = next((r.mase for r in homes if r.series != "fleet"), None)
            chosen.append(
                BestModel(
                    target=target,
                    model=kind,
                    mase=mase,
                    meets_target=mase is not None and mase <= MASE_TARGET,
                )
            )
        return cls(
            ran_at=run.ran_at,
            test_from=run.test_from,
            test_until=run.test_until,
            horizon_hours=run.horizon_h,
            stride_hours=run.stride_h,
            buildings=run.buildings,
            rows=[BacktestRow.from_stored(r) for r in run.rows],
            best=chosen,
        )


@strawberry.type(
    description=(
        "What the online batteries can give (up) or take (down) in one hour, called in that "
        "hour alone from the state they will be in by then (a home self-consumes its forecast "
        "net load until the call), within the guard's limits; with zero export a home gives "
        "no more than its forecast net load"
    )
)
class FlexibilityHour:
    at: datetime = strawberry.field(description="Start of the hour")
    up_kw: float = strawberry.field(description="Most the fleet can discharge through the hour")
    down_kw: float = strawberry.field(description="Most the fleet can charge through the hour")
    up_kwh: float = strawberry.field(
        description="Most energy the fleet can deliver from now to the end of the hour"
    )
    down_kwh: float = strawberry.field(
        description="Most energy the fleet can absorb from now to the end of the hour"
    )
    net_load_kw: float | None = strawberry.field(
        description="The fleet's forecast median load minus PV; null if not forecast"
    )

    @classmethod
    def from_stored(cls, h: StoredFlexibilityHour) -> FlexibilityHour:
        return cls(**h.__dict__)


@strawberry.type(description="What the online batteries can do now, from their state of charge")
class Flexibility:
    nodes: int
    charge_kw: float = strawberry.field(
        description="Rated kW of the batteries below the SOC ceiling: before the guard's kW "
        "limits (the hourly envelope applies them)"
    )
    discharge_kw: float = strawberry.field(
        description="Rated kW of the batteries above the SOC floor: before the guard's kW "
        "limits and zero export (the hourly envelope applies them)"
    )
    charge_kwh: float = strawberry.field(description="Room below the SOC ceiling, kWh")
    discharge_kwh: float = strawberry.field(description="Energy above the SOC floor, kWh")
    charge_hours: float | None = strawberry.field(description="chargeKwh at chargeKw")
    discharge_hours: float | None = strawberry.field(description="dischargeKwh at dischargeKw")
    computed_at: datetime
    forecast_nodes: int = strawberry.field(
        description="Of the nodes, those whose load and PV forecasts feed the hourly envelope"
    )
    hours: list[FlexibilityHour] = strawberry.field(
        description="The next 24 hours, from the one holding computedAt"
    )

    @classmethod
    def from_stored(cls, f: StoredFlexibility) -> Flexibility:
        fields = {k: v for k, v in f.__dict__.items() if k != "hours"}
        return cls(**fields, hours=[FlexibilityHour.from_stored(h) for h in f.hours])


@strawberry.type(description="The scores of the forecast steps a given number of hours ahead")
class LeadAccuracy:
    hours_ahead: int = strawberry.field(description="0: the forecast's first hour")
    points: int
    mae: float
    mase: float | None = strawberry.field(description="Null where the naive was exact")

    @classmethod
    def from_stored(cls, lead: StoredLeadAccuracy) -> LeadAccuracy:
        return cls(**lead.__dict__)


@strawberry.type(
    description=(
        "How the stored forecasts did against what was then measured: each step whose hour "
        "has ended and is in the hourly history, the newest forecast per first hour"
    )
)
class ForecastAccuracy:
    series_id: strawberry.ID = strawberry.field(description="A node id, or `fleet`")
    target: Target
    since: datetime = strawberry.field(description="The first forecast hour looked at")
    until: datetime = strawberry.field(description="The end of the last whole hour")
    forecasts: int = strawberry.field(description="Forecasts with a scored step")
    unmatched: int = strawberry.field(
        description="The fleet's forecasts not scored because they summed another number of "
        "nodes than the measured fleet (made before a node had a day of history); 0 for a node"
    )
    fallbacks: int = strawberry.field(description="Of them, made by the seasonal-naive fallback")
    models: list[str] = strawberry.field(description="The models that made them")
    points: int = strawberry.field(description="Forecast steps scored")
    mae: float | None = strawberry.field(description="Mean absolute error of the median, kW")
    mase: float | None = strawberry.field(
        description="MAE over the seasonal naive's on the same points (< 1 beats it)"
    )
    naive_mae: float | None = strawberry.field(description="The seasonal naive's MAE, kW")
    coverage80: float | None = strawberry.field(
        description="Share of actuals within the 80 % band (PV: daylight hours only)"
    )
    meets_target: bool | None = strawberry.field(
        description="MASE at most 0.8, the design's target; null without a MASE"
    )
    leads: list[LeadAccuracy] = strawberry.field(description="The scores by hours ahead")

    @classmethod
    def from_stored(cls, a: StoredForecastAccuracy) -> ForecastAccuracy:
        return cls(
            series_id=strawberry.ID(a.series_id),
            target=a.target,
            since=a.since,
            until=a.until,
            forecasts=a.forecasts,
            unmatched=a.unmatched,
            fallbacks=a.fallbacks,
            models=a.models,
            points=a.points,
            mae=a.mae,
            mase=a.mase,
            naive_mae=a.naive_mae,
            coverage80=a.coverage_80,
            meets_target=None if a.mase is None else a.mase <= MASE_TARGET,
            leads=[LeadAccuracy.from_stored(lead) for lead in a.leads],
        )
