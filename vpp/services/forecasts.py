"""The forecasting use cases as the API serves them: the newest forecasts of a node or the
fleet with their quantile bands, the model registry with its held-out metrics, the newest
backtest's table (`vpp forecast backtest`), and the flexibility envelope: how much the
fleet's batteries can charge or discharge now and how long they can keep it up, and hour
by hour over the next day from their state of charge and their homes' forecasts.

The hourly envelope answers "if I call the fleet in this hour alone, how many kW can it
give (up: discharge) or take (down: charge) for the whole hour?", within the limits the
automation's guard applies (`vpp.optimize.guard`): the SOC band, the node's and the
fleet's kW limits, the round-trip efficiency and, with zero export, no discharge beyond a
home's own net load, here its forecast median (load minus PV). Each battery is called
from the state it will be in by then: a home left alone self-consumes (stores its PV
surplus, covers its load, as the simulator's homes and the RL env do), so its forecast
net load drains or fills its battery hour by hour until the call; other nodes' batteries
stay as they are. A home without both forecasts for an hour offers no up kW under zero
export, and its battery is taken to stay as it is through that hour: the envelope
promises only what it can see. Zero export is the homes' tariff (the optimiser acts on
homes only); other nodes give what their battery holds. The kWh columns answer another
question: a run of calls from now to each hour, each battery bounded by the energy (or
room) it has now, which the run shares.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from redis.asyncio import Redis

from vpp.bus.channels import RedisNames
from vpp.ml.forecast.documents import BACKTESTS, FLEET_SERIES, FORECASTS, MODELS, BacktestRun
from vpp.ml.forecast.history import hour_floor
from vpp.ml.forecast.messages import CycleForecasts, PublishedForecast
from vpp.ml.forecast.settings import Target
from vpp.models import NodeKind
from vpp.optimize.fleet import NodeForecast
from vpp.optimize.fleet import latest_forecasts as latest_node_forecasts
from vpp.optimize.guard import GuardLimits
from vpp.services.errors import InvalidInputError
from vpp.services.nodes import check_node_id
from vpp.store.database import Database
from vpp.store.documents import NODES
from vpp.store.live_state import read_live_states

MAX_MODELS = 200
MAX_HORIZON_H = 168
ENVELOPE_HOURS = 24


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
    nodes: int | None = None  # the fleet's: how many nodes it sums

    @classmethod
    def published(cls, cycle: CycleForecasts, f: PublishedForecast) -> ForecastView:
        """One forecast of a cycle's live message (`vpp.api.live.forecasts`)."""
        return cls(
            series_id=f.series_id,
            target=f.target,
            cycle_id=cycle.cycle_id,
            issued_at=cycle.issued_at,
            start=cycle.start,
            step_minutes=cycle.step_minutes,
            q10=f.q10,
            q50=f.q50,
            q90=f.q90,
            model_name=f.model_name,
            model_version=f.model_version,
            fallback_reason=f.fallback_reason if f.fallback else None,
            nodes=f.nodes,
        )

    def within(self, hours: int) -> ForecastView:
        """The steps that start less than `hours` after the first."""
        steps = -(-hours * 60 // self.step_minutes)  # ceil: a partial step still starts inside
        return replace(self, q10=self.q10[:steps], q50=self.q50[:steps], q90=self.q90[:steps])


def check_forecast_request(series_id: str, horizon_h: int | None) -> None:
    """A node id or `fleet`, and a horizon of 1 to `MAX_HORIZON_H` hours if any."""
    if series_id != FLEET_SERIES:
        check_node_id(series_id, "seriesId")
    if horizon_h is not None and not 1 <= horizon_h <= MAX_HORIZON_H:
        raise InvalidInputError.for_field(
            "horizon", f"must be between 1 and {MAX_HORIZON_H} hours, not {horizon_h}"
        )


async def latest_forecasts(
    db: Database, series_id: str, target: Target | None = None, horizon_h: int | None = None
) -> list[ForecastView]:
    """The newest forecast of each target (or of one) for a node or `fleet`; with
    `horizon_h`, only its steps that start within that many hours of its first."""
    check_forecast_request(series_id, horizon_h)
    targets = [target] if target is not None else list(Target)
    found = []
    for t in targets:
        doc = await db[FORECASTS].find_one(
            {"series_id": series_id, "target": t.value}, sort=[("issued_at", -1)]
        )
        if doc is not None:
            view = _view(doc)
            found.append(view if horizon_h is None else view.within(horizon_h))
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
        nodes=doc.get("nodes"),
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


async def latest_backtest(db: Database, target: Target | None = None) -> BacktestRun | None:
    """The newest stored backtest, its rows and winners cut to `target` if given; None if
    none has been stored."""
    doc = await db[BACKTESTS].find_one({}, {"_id": 0}, sort=[("ran_at", -1)])
    if doc is None:
        return None
    run = BacktestRun.model_validate(doc)
    if target is None:
        return run
    return run.model_copy(
        update={
            "rows": [r for r in run.rows if r.target is target],
            "best": {t: k for t, k in run.best.items() if t is target},
        }
    )


@dataclass(frozen=True)
class FlexibilityHour:
    """What the fleet can give or take in one hour, called in that hour alone."""

    at: datetime  # the hour's start
    up_kw: float  # most it can discharge through the hour
    down_kw: float  # most it can charge through the hour
    up_kwh: float  # most energy it can deliver from now to this hour's end
    down_kwh: float  # most it can absorb from now to this hour's end
    net_load_kw: float | None  # the fleet's forecast median load minus PV, if forecast


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
    forecast_nodes: int  # of `nodes`, those with a load and PV forecast for the envelope
    hours: list[FlexibilityHour]


@dataclass(frozen=True)
class EnvelopeBattery:
    """One online battery as the envelope sees it."""

    kw: float  # the most it may be asked for, either way
    home: bool  # a home: zero export caps what it gives
    stored_kwh: float  # deliverable above the SOC floor, after losses
    room_kwh: float  # absorbable below the SOC ceiling, before losses
    # The home's forecast net load for each envelope hour, None where not forecast.
    net_load_kw: list[float | None]
    # The most the battery itself runs at, left alone (the guard's node limit aside).
    rated_kw: float

    def left_alone(self, efficiency: float) -> list[tuple[float, float]]:
        """(stored_kwh, room_kwh) at the start of each envelope hour if nobody calls it: a
        home self-consumes through its forecast hours, within the SOC band; any other
        node, or a home's unforecast hour, leaves the battery as it is."""
        stored, room = self.stored_kwh, self.room_kwh
        out = []
        for net in self.net_load_kw:
            out.append((stored, room))
            if not self.home or net is None:
                continue
            # Terminal kWh over one hour; losses apply on the way in and again on the way
            # out, as `stored_kwh` and `room_kwh` count them.
            if net > 0:
                used = min(net, self.rated_kw, stored)
                stored, room = stored - used, room + used / efficiency**2
            else:
                kept = min(-net, self.rated_kw, room)
                stored, room = stored + kept * efficiency**2, room - kept
        return out


async def flexibility(
    db: Database,
    redis: Redis,
    names: RedisNames,
    *,
    offline_after_s: float,
    limits: GuardLimits,
    forecast_max_age: timedelta,
    now: datetime,
    kind: NodeKind | None = None,
) -> Flexibility:
    """Of the nodes of `kind` (all by default). `forecast_max_age` bounds the forecasts
    read: two cycles' worth finds every node's newest even while a cycle is still writing,
    without scanning hours of them on every poll."""
    query = {} if kind is None else {"kind": kind.value}
    registry = {
        doc["dc_id"]: doc
        async for doc in db[NODES].find(
            query, {"dc_id": 1, "kind": 1, "capacity_kw": 1, "battery_kwh": 1}
        )
    }
    states = await read_live_states(redis, names, list(registry), offline_after_s, now=now)
    online = [s for s in states if s.online and s.reading is not None]
    first_hour = hour_floor(now)
    slots = [first_hour + timedelta(hours=k) for k in range(ENVELOPE_HOURS)]
    # The fleet's own forecast rides in the same read as the nodes'.
    forecasts = await latest_node_forecasts(
        db, {s.dc_id for s in online} | {FLEET_SERIES}, now, max_age=forecast_max_age
    )
    batteries = []
    charge_kw = discharge_kw = charge_kwh = discharge_kwh = 0.0
    for state in online:
        assert state.reading is not None
        node = registry[state.dc_id]
        kwh = float(node.get("battery_kwh", 0.0))
        kw = float(node.get("capacity_kw", 0.0))
        soc = state.reading.soc / 100.0
        room = max(0.0, limits.soc_max - soc) * kwh
        stored = max(0.0, soc - limits.soc_min) * kwh
        charge_kwh += room
        discharge_kwh += stored
        charge_kw += kw if room > 0 else 0.0
        discharge_kw += kw if stored > 0 else 0.0
        batteries.append(
            EnvelopeBattery(
                kw=min(kw, limits.node_max_kw),
                home=node.get("kind") == NodeKind.HOME_DER.value,
                stored_kwh=stored * limits.efficiency,
                room_kwh=room / limits.efficiency,
                net_load_kw=node_net_load(forecasts.get(state.dc_id), slots),
                rated_kw=kw,
            )
        )
    return Flexibility(
        nodes=len(online),
        charge_kw=charge_kw,
        discharge_kw=discharge_kw,
        charge_kwh=charge_kwh,
        discharge_kwh=discharge_kwh,
        charge_hours=charge_kwh / charge_kw if charge_kw else None,
        discharge_hours=discharge_kwh / discharge_kw if discharge_kw else None,
        computed_at=now,
        forecast_nodes=sum(1 for b in batteries if any(x is not None for x in b.net_load_kw)),
        hours=envelope(batteries, slots, limits, node_net_load(forecasts.get(FLEET_SERIES), slots)),
    )


def envelope(
    batteries: list[EnvelopeBattery],
    slots: list[datetime],
    limits: GuardLimits,
    fleet_net_load: list[float | None],
) -> list[FlexibilityHour]:
    """The hourly envelope (see the module's docstring) over `slots`."""
    n = len(slots)
    up_kw, down_kw = [0.0] * n, [0.0] * n
    up_kwh, down_kwh = [0.0] * n, [0.0] * n
    for b in batteries:
        give_run = take_run = 0.0
        for k, (stored, room) in enumerate(b.left_alone(limits.efficiency)):
            cap = _export_cap(b, k, limits)
            # Called in this hour alone, from where the battery got to by itself; one hour
            # at most, so kW == kWh.
            up_kw[k] += min(b.kw, stored, cap)
            down_kw[k] += min(b.kw, room)
            # A run of calls from now shares the energy (or room) the battery has now.
            give_run += min(b.kw, b.stored_kwh, cap)
            take_run += min(b.kw, b.room_kwh)
            up_kwh[k] += min(give_run, b.stored_kwh)
            down_kwh[k] += min(take_run, b.room_kwh)
    hours = []
    for k, at in enumerate(slots):
        up, down, up_e, down_e = up_kw[k], down_kw[k], up_kwh[k], down_kwh[k]
        if limits.fleet_max_kw > 0:  # it bounds every hour
            up, down = min(up, limits.fleet_max_kw), min(down, limits.fleet_max_kw)
            up_e = min(up_e, limits.fleet_max_kw * (k + 1))
            down_e = min(down_e, limits.fleet_max_kw * (k + 1))
        hours.append(FlexibilityHour(at, up, down, up_e, down_e, fleet_net_load[k]))
    return hours


def _export_cap(b: EnvelopeBattery, k: int, limits: GuardLimits) -> float:
    """The most a battery may give in hour k: under zero export a home's forecast net
    load (nothing if unforecast), otherwise no bound."""
    if not (limits.zero_export and b.home):
        return math.inf
    net = b.net_load_kw[k]
    return max(0.0, net) if net is not None else 0.0


def node_net_load(forecast: NodeForecast | None, slots: list[datetime]) -> list[float | None]:
    """A node's (or the fleet's) forecast load minus PV in each slot; None without both."""
    if forecast is None or forecast.load_kw is None or forecast.pv_kw is None:
        return [None] * len(slots)
    out: list[float | None] = []
    for at in slots:
        k = int((at - forecast.start).total_seconds() // 3600)
        inside = 0 <= k < min(len(forecast.load_kw), len(forecast.pv_kw))
        out.append(forecast.load_kw[k] - forecast.pv_kw[k] if inside else None)
    return out
