"""What the cycle reads before it decides: each home battery's state (registry + the live
state in Redis), which nodes an operator's dispatch holds, the newest forecasts, how each
home's last hours went against a typical day (from the hourly history), and the grid
frequency. Read-only; the cycle's activity calls `read_fleet`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from redis.asyncio import Redis

from vpp.bus.channels import RedisNames
from vpp.dispatch.documents import DISPATCH_LOG
from vpp.dispatch.models import NodeStatus as CommandStatus
from vpp.ml.forecast.documents import FORECASTS
from vpp.ml.forecast.history import hour_floor, read_series
from vpp.ml.forecast.settings import Target
from vpp.ml.rl.recent import RECENT_HISTORY_H, recent_deviation
from vpp.models import NodeKind
from vpp.optimize.guard import GridState
from vpp.optimize.models import AUTOMATION_ISSUER, NodeState
from vpp.store.aggregate import freq_status
from vpp.store.database import Database
from vpp.store.documents import NODES
from vpp.store.live_state import read_live_states

# A command in one of these states still binds its node.
_BINDING = [CommandStatus.PENDING.value, CommandStatus.SENT.value, CommandStatus.ACCEPTED.value]
# Commands last at most a day (the dispatch's own limit): older log entries hold nothing.
_HOLD_LOOKBACK = timedelta(days=1)
# A forecast older than this is not used (the cycle runs every 15 minutes).
_FORECAST_MAX_AGE = timedelta(hours=3)
# Two cycles at the default 15 minutes: the newest finished one, even while the next runs.
_NEWEST_CYCLES = timedelta(minutes=30)
# Above this many (node, target) pairs missing from the newest cycles, the older ones are
# read in one query rather than one query per pair.
_ASKED_ONE_BY_ONE = 50


@dataclass(frozen=True)
class NodeForecast:
    """Hourly median forecasts from `start`, and the cycle that made them."""

    cycle_id: str
    start: datetime
    load_kw: list[float] | None
    pv_kw: list[float] | None


@dataclass(frozen=True)
class RecentDeviations:
    """kW, each of the last hours' measured load and PV minus its typical value, oldest
    first (`vpp.ml.rl.recent`)."""

    load_kw: list[float]
    pv_kw: list[float]


@dataclass
class FleetView:
    nodes: list[NodeState]
    forecasts: dict[str, NodeForecast]
    grid: GridState
    notes: list[str] = field(default_factory=list)
    recent: dict[str, RecentDeviations] = field(default_factory=dict)


async def read_fleet(
    db: Database,
    redis: Redis,
    *,
    now: datetime,
    node_ids: Sequence[str] | None,
    offline_after_s: float,
    max_state_age_s: float,
    names: RedisNames | None = None,
    recent: bool = False,
) -> FleetView:
    """The fleet as the cycle decides on it; with `recent`, also each deciding node's last
    hours against a typical day (read from the hourly history only for policies that use
    them)."""
    names = names or RedisNames()
    query: dict[str, Any] = {"kind": NodeKind.HOME_DER.value}
    notes = []
    registry = [doc async for doc in db[NODES].find(query, {"_id": 0})]
    if node_ids is not None:
        wanted = set(node_ids)
        found = {doc["dc_id"] for doc in registry}
        missing = sorted(wanted - found)
        if missing:
            notes.append(
                f"not registered home batteries, left out: {', '.join(missing[:20])}"
                + (f" and {len(missing) - 20} more" if len(missing) > 20 else "")
            )
        registry = [doc for doc in registry if doc["dc_id"] in wanted]
    registry.sort(key=lambda doc: doc["dc_id"])
    ids = [doc["dc_id"] for doc in registry]
    live = {s.dc_id: s for s in await read_live_states(redis, names, ids, offline_after_s, now=now)}
    held = await held_nodes(db, now)
    states = []
    freqs = []
    for doc in registry:
        dc_id = doc["dc_id"]
        state = live.get(dc_id)
        reading = state.reading if state else None
        problem = None
        if state is None or reading is None:
            problem = "no reading yet"
        elif not state.online:
            problem = "offline"
        elif (now - reading.timestamp).total_seconds() > max_state_age_s:
            problem = f"newest reading {reading.timestamp.isoformat()} is too old"
        if reading is not None and problem is None:
            freqs.append(reading.freq)
        states.append(
            NodeState(
                dc_id=dc_id,
                kind=NodeKind(doc.get("kind", NodeKind.HOME_DER.value)),
                capacity_kw=float(doc["capacity_kw"]),
                battery_kwh=float(doc["battery_kwh"]),
                soc=reading.soc / 100.0 if reading else None,
                battery_kw=reading.battery_kw if reading else None,
                load_kw=reading.load_kw if reading else None,
                pv_kw=reading.pv_kw if reading else None,
                reading_at=reading.timestamp if reading else None,
                held_by=held.get(dc_id),
                problem=problem,
            )
        )
    avg_freq = sum(freqs) / len(freqs) if freqs else None
    deciding = [s.dc_id for s in states if s.problem is None]
    return FleetView(
        nodes=states,
        forecasts=await latest_forecasts(db, set(ids), now),
        grid=GridState(avg_freq=avg_freq, freq_status=freq_status(avg_freq)),
        notes=notes,
        recent=await recent_deviations(db, deciding, now) if recent else {},
    )


async def recent_deviations(
    db: Database, ids: Sequence[str], now: datetime
) -> dict[str, RecentDeviations]:
    """The last complete hours' deviations of each node with hourly history; hours the
    history does not hold (not yet appended from telemetry) deviate by 0."""
    if not ids:
        return {}
    end = hour_floor(now)
    channels = (Target.LOAD.value, Target.PV.value)
    history = await read_series(db, ids, channels, end - timedelta(hours=RECENT_HISTORY_H), end)
    return {
        dc_id: RecentDeviations(
            load_kw=recent_deviation(series[Target.LOAD.value], RECENT_HISTORY_H).tolist(),
            pv_kw=recent_deviation(series[Target.PV.value], RECENT_HISTORY_H).tolist(),
        )
        for dc_id, series in history.items()
    }


async def held_nodes(db: Database, now: datetime) -> dict[str, str]:
    """Nodes whose operator-issued command is still pending or running, with its dispatch."""
    # Asked by status alone, which the log's (status, timestamp) index answers: commands
    # still binding are few, the log's day of entries many. The other conditions are
    # checked here because SecantusDB scans the whole log for a query naming a field
    # its index lacks.
    cursor = db[DISPATCH_LOG].find(
        {"status": {"$in": _BINDING}},
        {"dc_id": 1, "dispatch_id": 1, "issued_by": 1, "timestamp": 1},
    )
    since = now - _HOLD_LOOKBACK
    binding = [
        doc
        async for doc in cursor
        if doc.get("issued_by") != AUTOMATION_ISSUER and doc["timestamp"] >= since
    ]
    # Oldest first, so a node held twice is named with its newest dispatch.
    binding.sort(key=lambda doc: doc["timestamp"])
    return {doc["dc_id"]: doc["dispatch_id"] for doc in binding}


async def latest_forecasts(
    db: Database, ids: set[str], now: datetime, max_age: timedelta = _FORECAST_MAX_AGE
) -> dict[str, NodeForecast]:
    """The newest forecast of each node's load and PV (median) issued within `max_age`."""
    # Every cycle forecasts the whole fleet, so the newest cycles hold nearly every node:
    # read them first, then only what they lacked. One read of `max_age` would fetch
    # every cycle kept in it (twelve at 3 h), each a document per node and target.
    recent = now - min(_NEWEST_CYCLES, max_age)
    newest = await _newest_forecasts(db, {"issued_at": {"$gte": recent}}, ids)
    missing = [(i, t.value) for i in ids for t in Target if (i, t.value) not in newest]
    older = {"$gte": now - max_age, "$lt": recent}
    if max_age <= _NEWEST_CYCLES:
        # Nothing older may be used (the envelope asks for two cycles at most).
        queries: list[dict[str, Any]] = []
    elif len(missing) > _ASKED_ONE_BY_ONE:
        # A cycle that failed or is late: the older cycles, all at once.
        queries = [{"issued_at": older}]
    else:
        # Nodes the newest cycles skip (too little history): few, and each pair's own
        # (series, target, issued) index answers it.
        queries = [{"series_id": i, "target": t, "issued_at": older} for i, t in missing]
    for query in queries:
        for key, doc in (await _newest_forecasts(db, query, ids)).items():
            newest.setdefault(key, doc)
    result = {}
    for dc_id in ids:
        load = newest.get((dc_id, Target.LOAD.value))
        pv = newest.get((dc_id, Target.PV.value))
        if load is None and pv is None:
            continue
        first = load or pv
        assert first is not None
        result[dc_id] = NodeForecast(
            cycle_id=first["cycle_id"],
            start=first["start"],
            load_kw=_from(load, first["start"]),
            pv_kw=_from(pv, first["start"]),
        )
    return result


async def _newest_forecasts(
    db: Database, query: dict[str, Any], ids: set[str]
) -> dict[tuple[str, str], dict[str, Any]]:
    """The newest document of each (node, target) that `query` finds, for `ids` only."""
    newest: dict[tuple[str, str], dict[str, Any]] = {}
    cursor = db[FORECASTS].find(
        query, {"series_id": 1, "target": 1, "issued_at": 1, "start": 1, "q50": 1, "cycle_id": 1}
    )
    async for doc in cursor:
        if doc["series_id"] not in ids:
            continue
        key = (doc["series_id"], doc["target"])
        if key not in newest or doc["issued_at"] > newest[key]["issued_at"]:
            newest[key] = doc
    return newest


def _from(doc: dict[str, Any] | None, start: datetime) -> list[float] | None:
    if doc is None:
        return None
    offset = int((start - doc["start"]).total_seconds() // 3600)
    values = [float(v) for v in doc["q50"][max(0, offset) :]]
    return [v if math.isfinite(v) else 0.0 for v in values]


def ahead(
    values: list[float] | None, start: datetime, now: datetime, hours: int, fill: float
) -> list[float]:
    """`hours` values from the hour holding `now`; past the forecast's end, its last value
    (or `fill` when there is none)."""
    if not values:
        return [fill] * hours
    offset = max(0, int((now - start).total_seconds() // 3600))
    window = values[offset : offset + hours]
    last = window[-1] if window else values[-1]
    return window + [last] * (hours - len(window))
