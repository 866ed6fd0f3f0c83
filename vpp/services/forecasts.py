"""The forecasting use cases as the API serves them: the newest forecasts of a node or the
fleet with their quantile bands, the model registry with its backtest metrics, and the
flexibility envelope (how much the fleet's batteries can charge or discharge now and how
long they can keep it up).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from redis.asyncio import Redis

from vpp.bus.channels import RedisNames
from vpp.ml.forecast.documents import FLEET_SERIES, FORECASTS, MODELS
from vpp.ml.forecast.settings import Target
from vpp.services.errors import InvalidInputError
from vpp.services.nodes import check_node_id
from vpp.store.database import Database
from vpp.store.documents import NODES
from vpp.store.live_state import read_live_states

MAX_MODELS = 200


@dataclass(frozen=True)
class ForecastView:
    series_id: str
    target: Target
    cycle_id: str
    issued_at: datetime
    start: datetime
    step_minutes: int
    q10: list[float]
    q50: list[float]
    q90: list[float]
    model_name: str
    model_version: int | None
    fallback_reason: str | None


async def latest_forecasts(
    db: Database, series_id: str, target: Target | None = None
) -> list[ForecastView]:
    """The newest forecast of each target (or of one) for a node or `fleet`."""
    if series_id != FLEET_SERIES:
        check_node_id(series_id, "seriesId")
    targets = [target] if target is not None else list(Target)
    found = []
    for t in targets:
        doc = await db[FORECASTS].find_one(
            {"series_id": series_id, "target": t.value}, sort=[("issued_at", -1)]
        )
        if doc is not None:
            found.append(_view(doc))
    return found


def _view(doc: dict[str, Any]) -> ForecastView:
    return ForecastView(
        series_id=doc["series_id"],
        target=Target(doc["target"]),
        cycle_id=doc["cycle_id"],
        issued_at=doc["issued_at"],
        start=doc["start"],
        step_minutes=int(doc.get("step_minutes", 60)),
        q10=[float(v) for v in doc["q10"]],
        q50=[float(v) for v in doc["q50"]],
        q90=[float(v) for v in doc["q90"]],
        model_name=doc["model_name"],
        model_version=doc.get("model_version"),
        fallback_reason=doc.get("fallback_reason") if doc.get("fallback") else None,
    )


@dataclass(frozen=True)
class ModelView:
    name: str
    version: int
    kind: str  # "forecast", "policy"
    target: str | None
    champion: bool
    trained_at: datetime
    metrics: dict[str, float]


async def models(db: Database, kind: str | None = None, last: int = 50) -> list[ModelView]:
    """Trained models, newest first, with the metrics of their held-out evaluation."""
    if not 1 <= last <= MAX_MODELS:
        raise InvalidInputError.for_field("last", f"must be between 1 and {MAX_MODELS}")
    query: dict[str, Any] = {} if kind is None else {"kind": kind}
    cursor = db[MODELS].find(query).sort("trained_at", -1).limit(last)
    result = []
    async for doc in cursor:
        metrics = doc.get("metrics") or doc.get("evaluation") or {}
        result.append(
            ModelView(
                name=doc["name"],
                version=int(doc["version"]),
                kind=doc.get("kind", "forecast"),
                target=doc.get("target"),
                champion=bool(doc.get("champion", False)),
                trained_at=doc["trained_at"],
                metrics={
                    k: float(v)
                    for k, v in metrics.items()
                    if isinstance(v, int | float) and not isinstance(v, bool)
                },
            )
        )
    return result


@dataclass(frozen=True)
class Flexibility:
    """What the online batteries can do from their current state of charge."""

    nodes: int  # online nodes with a battery reading
    charge_kw: float  # most the fleet can absorb now
    discharge_kw: float  # most it can deliver now
    charge_kwh: float  # room left to the top of every battery
    discharge_kwh: float  # energy stored above the bottom of every battery
    charge_hours: float | None  # how long charge_kw could be held (energy / power)
    discharge_hours: float | None
    computed_at: datetime


async def flexibility(
    db: Database,
    redis: Redis,
    names: RedisNames,
    *,
    offline_after_s: float,
    soc_min: float,
    soc_max: float,
    now: datetime,
) -> Flexibility:
    registry = {
        doc["dc_id"]: doc
        async for doc in db[NODES].find({}, {"dc_id": 1, "capacity_kw": 1, "battery_kwh": 1})
    }
    states = await read_live_states(redis, names, list(registry), offline_after_s, now=now)
    count = 0
    charge_kw = discharge_kw = charge_kwh = discharge_kwh = 0.0
    for state in states:
        if not state.online or state.reading is None:
            continue
        node = registry[state.dc_id]
        kwh = float(node.get("battery_kwh", 0.0))
        kw = float(node.get("capacity_kw", 0.0))
        soc = state.reading.soc / 100.0
        room = max(0.0, soc_max - soc) * kwh
        stored = max(0.0, soc - soc_min) * kwh
        count += 1
        charge_kwh += room
        discharge_kwh += stored
        charge_kw += kw if room > 0 else 0.0
        discharge_kw += kw if stored > 0 else 0.0
    return Flexibility(
        nodes=count,
        charge_kw=charge_kw,
        discharge_kw=discharge_kw,
        charge_kwh=charge_kwh,
        discharge_kwh=discharge_kwh,
        charge_hours=charge_kwh / charge_kw if charge_kw else None,
        discharge_hours=discharge_kwh / discharge_kw if discharge_kw else None,
        computed_at=now,
    )
