"""The plant's aggregate (the seed's `/api/aggregate`), from the latest state in Redis.

- `node_count`: nodes in scope of which Redis knows anything (a reading or a status);
  with a list of ids, ids never heard of do not count.
- `online_nodes`: those online (see `vpp.store.live_state`).
- `total_power_kw`, `avg_soc`, `avg_freq`: over the online nodes' latest readings only,
  so a node that went silent stops counting once `offline_after_s` has passed. With no
  node online the averages are None and `freq_status` is `unknown`.
- `freq_status` from `avg_freq` against 50 Hz nominal:
  `normal` within ±0.1 Hz (the seed's band; inside it frequency containment reserve is
  barely active), `warning` within ±0.2 Hz (ENTSO-E's maximum steady-state deviation in
  Continental Europe: reserves fully deployed), `critical` beyond it (emergency measures
  such as under-frequency load shedding, from 49.0 Hz, come next).

Results are cached in Redis for `settings.ingest.aggregate_cache_s` per scope.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum

import orjson
from pydantic import AwareDatetime, BaseModel

from vpp.bus.channels import RedisNames
from vpp.store.live_state import (
    RawLiveState,
    RedisClient,
    epoch_ms,
    from_epoch_ms,
    is_online,
    read_raw_states,
)

NOMINAL_HZ = 50.0
NORMAL_BAND_HZ = 0.1
WARNING_BAND_HZ = 0.2


class FreqStatus(StrEnum):
    NORMAL = "normal"
    WARNING = "warning"
    CRITICAL = "critical"
    UNKNOWN = "unknown"


class Aggregate(BaseModel):
    total_power_kw: float
    avg_soc: float | None
    avg_freq: float | None
    node_count: int
    online_nodes: int
    freq_status: FreqStatus
    computed_at: AwareDatetime


def freq_status(avg_freq: float | None) -> FreqStatus:
    """The band of a frequency; deviations are compared at µHz precision so that 50.1 Hz
    is `normal` despite binary floating point."""
    if avg_freq is None:
        return FreqStatus.UNKNOWN
    deviation = round(abs(avg_freq - NOMINAL_HZ), 6)
    if deviation <= NORMAL_BAND_HZ:
        return FreqStatus.NORMAL
    if deviation <= WARNING_BAND_HZ:
        return FreqStatus.WARNING
    return FreqStatus.CRITICAL


def compute_aggregate(
    states: Mapping[str, RawLiveState], now_ms: int, offline_after_s: float
) -> Aggregate:
    total_power = 0.0
    soc_sum = 0.0
    freq_sum = 0.0
    counted = 0
    online = 0
    for state in states.values():
        if not is_online(state, now_ms, offline_after_s):
            continue
        online += 1
        reading = _figures(state.latest_json)
        if reading is None:
            continue
        power_kw, soc, freq = reading
        total_power += power_kw
        soc_sum += soc
        freq_sum += freq
        counted += 1
    avg_freq = freq_sum / counted if counted else None
    return Aggregate(
        total_power_kw=total_power,
        avg_soc=soc_sum / counted if counted else None,
        avg_freq=avg_freq,
        node_count=len(states),
        online_nodes=online,
        freq_status=freq_status(avg_freq),
        computed_at=from_epoch_ms(now_ms),
    )


def _figures(latest_json: bytes | None) -> tuple[float, float, float] | None:
    """The power (kW), state of charge and frequency of a node's latest reading; None if
    there is none, or it holds no such numbers (not written by this version's ingest): one
    such node is left out of the sums, not allowed to fail the whole fleet's aggregate."""
    if latest_json is None:
        return None
    try:
        reading = orjson.loads(latest_json)
        return float(reading["power_kw"]), float(reading["soc"]), float(reading["freq"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


async def get_aggregate(
    redis: RedisClient,
    names: RedisNames,
    node_ids: Sequence[str] | None = None,
    *,
    offline_after_s: float,
    cache_s: float,
) -> Aggregate:
    """The aggregate over all nodes (None) or the given ones, cached for `cache_s`."""
    key = names.aggregate_cache(node_ids)
    cached = await redis.get(key)
    if cached is not None:
        try:
            return Aggregate.model_validate_json(cached)
        except ValueError:
            # Cached by another version of the platform (a rolling upgrade shares the
            # key): computed again, and cached in this version's shape.
            pass
    states = await read_raw_states(redis, names, node_ids)
    result = compute_aggregate(states, epoch_ms(datetime.now(UTC)), offline_after_s)
    await redis.set(key, result.model_dump_json(), px=max(1, int(cache_s * 1000)))
    return result
