"""The latest state of every node in Redis: written by ingest, read by queries and the API.

Per node (names in `vpp.bus.channels.RedisNames`): its newest reading by the reading's
own timestamp (an edge buffer replaying old readings never moves it back), when ingest
last received anything from it (`last_seen`, the ingester's clock), and its last status
message (`online` / `offline`, the retained status topic and the node's last will).

A node is online when ingest heard a reading from it within `offline_after_s` and no
`offline` status arrived after that reading. An `online` status alone does not make a
node online: it must also send telemetry (within one interval of connecting).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import BaseModel
from redis.asyncio import Redis
from redis.typing import EncodableT, FieldT

from vpp.bus.channels import RedisNames
from vpp.models import NodeStatus
from vpp.store.documents import TelemetryRecord

# One call per stored batch: for each reading, replace the node's latest reading only if
# this one is newer, and always record when the node was last heard of.
# KEYS: latest, latest_ts, last_seen. ARGV[1]: received (epoch ms); ARGV[2]: the readings
# packed as "<id>\t<timestamp ms>\t<json>\n" lines (one argument, not three per reading:
# encoding thousands of arguments was a visible cost). Ids hold no tab or newline, and
# compact JSON holds no raw control characters.
_UPDATE_LATEST = r"""
local received = ARGV[1]
for id, ts, json in string.gmatch(ARGV[2], "([^\t\n]+)\t([^\t\n]+)\t([^\n]*)\n") do
  local current = redis.call('HGET', KEYS[2], id)
  if (not current) or tonumber(current) < tonumber(ts) then
    redis.call('HSET', KEYS[2], id, ts)
    redis.call('HSET', KEYS[1], id, json)
  end
  redis.call('HSET', KEYS[3], id, received)
end
return 1
"""

RedisClient = Redis


def epoch_ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def from_epoch_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


@dataclass(frozen=True)
class LiveReading:
    """One stored reading as ingest hands it to Redis."""

    dc_id: str
    timestamp_ms: int
    json: bytes  # the reading as JSON, as live subscribers receive it


@dataclass(frozen=True)
class Heard:
    """When a node was last heard of: its newest reading's timestamp, and when ingest last
    received one of its readings (epoch ms)."""

    timestamp_ms: int
    received_ms: int


@dataclass(frozen=True)
class StatusUpdate:
    dc_id: str
    status: NodeStatus
    at_ms: int
    # An `offline` that ingest inferred from a silence between readings (no status
    # message said it); such changes go to the status log only, never to Redis.
    silent: bool = False


class LiveStateWriter:
    """Ingest's side: one pipelined round trip per batch (latest state + live message)."""

    def __init__(self, redis: RedisClient, names: RedisNames) -> None:
        self._redis = redis
        self._names = names
        self._update_latest = redis.register_script(_UPDATE_LATEST)

    async def publish_batch(self, readings: Sequence[LiveReading], received_ms: int) -> None:
        """Update the latest state and publish the batch as one JSON list on the live channel."""
        if not readings:
            return
        packed = b"".join(
            b"%s\t%d\t%s\n" % (r.dc_id.encode(), r.timestamp_ms, r.json) for r in readings
        )
        names = self._names
        pipe = self._redis.pipeline(transaction=False)
        await self._update_latest(
            keys=[names.latest, names.latest_ts, names.last_seen],
            args=[received_ms, packed],
            client=pipe,
        )
        pipe.publish(names.telemetry_live, b"[" + b",".join(r.json for r in readings) + b"]")
        await pipe.execute()

    async def heard(self, node_ids: Sequence[str]) -> dict[str, Heard]:
        """What Redis holds of when each node was last heard of; nodes it holds no reading
        of (or no number) are left out."""
        if not node_ids:
            return {}
        ids = list(node_ids)
        pipe = self._redis.pipeline(transaction=False)
        pipe.hmget(self._names.latest_ts, ids)
        pipe.hmget(self._names.last_seen, ids)
        stamps, seen = await pipe.execute()
        out = {}
        for node, ts, at in zip(ids, stamps, seen, strict=True):
            # A value this version's ingest did not write tells nothing of the node, and
            # must not keep the batch (every node in it) out of Redis.
            with contextlib.suppress(TypeError, ValueError):
                out[node] = Heard(int(ts), int(at))
        return out

    async def statuses(self, node_ids: Sequence[str]) -> dict[str, NodeStatus | None]:
        """The last status Redis holds of each node (None: none, or unreadable)."""
        if not node_ids:
            return {}
        raw = await self._redis.hmget(self._names.status, list(node_ids))
        return {n: _parse_status(r)[0] for n, r in zip(node_ids, raw, strict=True)}

    async def set_statuses(self, updates: Sequence[StatusUpdate]) -> None:
        if not updates:
            return
        # The last update of a node in the batch wins.
        mapping: dict[FieldT, EncodableT] = {
            u.dc_id: f"{u.status.value}:{u.at_ms}" for u in updates
        }
        await self._redis.hset(self._names.status, mapping=mapping)


class NodeLiveState(BaseModel):
    """What Redis knows of one node right now."""

    dc_id: str
    online: bool
    last_seen: datetime | None = None
    status: NodeStatus | None = None
    status_at: datetime | None = None
    reading: TelemetryRecord | None = None


@dataclass(frozen=True)
class RawLiveState:
    """The undecoded state of one node: cheap to read for thousands of nodes."""

    latest_json: bytes | None
    last_seen_ms: int | None
    status: NodeStatus | None
    status_at_ms: int | None


def silent_from_ms(heard_ms: int, offline_after_s: float) -> int:
    """When a node last heard of at `heard_ms` counts as offline, if nothing follows."""
    return heard_ms + int(offline_after_s * 1000)


def is_online(state: RawLiveState, now_ms: int, offline_after_s: float) -> bool:
    if state.last_seen_ms is None:
        return False
    if (
        state.status is NodeStatus.OFFLINE
        and state.status_at_ms is not None
        and state.status_at_ms >= state.last_seen_ms
    ):
        return False
    return now_ms - state.last_seen_ms <= offline_after_s * 1000


async def read_raw_states(
    redis: RedisClient, names: RedisNames, node_ids: Sequence[str] | None
) -> dict[str, RawLiveState]:
    """The raw state of the given nodes (or of every node Redis knows), by id; nodes of
    which nothing is known are left out."""
    pipe = redis.pipeline(transaction=False)
    if node_ids is None:
        pipe.hgetall(names.latest)
        pipe.hgetall(names.last_seen)
        pipe.hgetall(names.status)
        latest_all, seen_all, status_all = await pipe.execute()
        latest = {_text(k): v for k, v in latest_all.items()}
        seen = {_text(k): v for k, v in seen_all.items()}
        status = {_text(k): v for k, v in status_all.items()}
        ids: Sequence[str] = sorted(set(latest) | set(seen) | set(status))
    else:
        ids = list(dict.fromkeys(node_ids))
        if not ids:
            return {}
        pipe.hmget(names.latest, ids)
        pipe.hmget(names.last_seen, ids)
        pipe.hmget(names.status, ids)
        latest_list, seen_list, status_list = await pipe.execute()
        latest = dict(zip(ids, latest_list, strict=True))
        seen = dict(zip(ids, seen_list, strict=True))
        status = dict(zip(ids, status_list, strict=True))
    states = {}
    for node_id in ids:
        raw_seen = seen.get(node_id)
        raw_status = status.get(node_id)
        raw_latest = latest.get(node_id)
        if raw_seen is None and raw_status is None and raw_latest is None:
            continue
        node_status, status_at = _parse_status(raw_status)
        states[node_id] = RawLiveState(
            latest_json=raw_latest,
            last_seen_ms=int(raw_seen) if raw_seen is not None else None,
            status=node_status,
            status_at_ms=status_at,
        )
    return states


async def read_live_states(
    redis: RedisClient,
    names: RedisNames,
    node_ids: Sequence[str] | None,
    offline_after_s: float,
    now: datetime | None = None,
) -> list[NodeLiveState]:
    """The live state of the given nodes (or of every node Redis knows), sorted by id."""
    now_ms = epoch_ms(now or datetime.now(UTC))
    raw = await read_raw_states(redis, names, node_ids)
    result = []
    for node_id in sorted(raw):
        state = raw[node_id]
        result.append(
            NodeLiveState(
                dc_id=node_id,
                online=is_online(state, now_ms, offline_after_s),
                last_seen=from_epoch_ms(state.last_seen_ms) if state.last_seen_ms else None,
                status=state.status,
                status_at=from_epoch_ms(state.status_at_ms) if state.status_at_ms else None,
                reading=_reading(state.latest_json),
            )
        )
    return result


def _reading(latest_json: bytes | None) -> TelemetryRecord | None:
    """A node's latest reading; None if there is none or it is not one (a value that this
    version's ingest did not write): one such node must not fail a query of many."""
    if latest_json is None:
        return None
    try:
        return TelemetryRecord.model_validate_json(latest_json)
    except ValueError:
        return None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _parse_status(raw: bytes | str | None) -> tuple[NodeStatus | None, int | None]:
    if raw is None:
        return None, None
    value, _, at = _text(raw).partition(":")
    try:
        return NodeStatus(value), int(at)
    except ValueError:
        return None, None
